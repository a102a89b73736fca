"""The compute queue's engines: their one registration, and the block that holds them.

``ENGINES`` lists every compute engine (hw/engine.py interface). Everything else derives from
it: which opcodes this build executes (hw/checks.py: the rest raise UNIMPLEMENTED), their word
checks, which of them hold the dispatcher for their data checks (``HOLD_OPCODES``: those that
isa.cycles.RUNTIME_CHECKED names), the start decode, the done/busy/checked/error merge and the
shared SRAM ports. Adding an engine is one entry here plus the engine.

``ComputeEngines`` has one port array per port kind (``sp_rd``, ``sp_wr``, ``acc_rd``,
``acc_wr``), as many as the most demanding engine declares: the compute queue runs one
instruction at a time, so engine ``e``'s k-th port of a kind drives shared port k of that kind
while ``e`` is the active engine (selected at its start). Read data goes to every engine.
The engines' per-lane multipliers are one shared bank the same way (hw/mulbank.py).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from isa import INSTR_BITS, ErrorCode, MachineConfig, Opcode
from isa.cycles import RUNTIME_CHECKED

from .attention import AttentionEngine
from .engine import Port, port_signature
from .gemm import GemmUnit
from .isa_layout import header_layout
from .mulbank import connect_bank
from .vector import ENGINES as VECTOR_ENGINES

#: Every compute engine of this build, in priority order of nothing (opcodes are disjoint).
ENGINES = (GemmUnit, *VECTOR_ENGINES, AttentionEngine)
#: opcode -> engine class.
ENGINE_OF = {op: e for e in ENGINES for op in e.OPCODES}
assert len(ENGINE_OF) == sum(len(e.OPCODES) for e in ENGINES), "two engines claim one opcode"
#: Compute opcodes this build executes (NOP needs no engine).
COMPUTE_OPCODES = (Opcode.NOP, *ENGINE_OF)
#: Opcodes after which the dispatcher waits for the engine's ``checked``.
HOLD_OPCODES = tuple(op for op in ENGINE_OF if op in RUNTIME_CHECKED)


def port_counts() -> dict[Port, int]:
    """Shared ports per kind: the most any one engine declares."""
    return {kind: max(sum(1 for k in e.PORTS.values() if k == kind) for e in ENGINES)
            for kind in Port}


def compute_signature(sizes: dict) -> dict:
    """Members of ComputeEngines (the engine handshake plus the shared port arrays)."""
    members = {
        "start": In(1), "instr": In(INSTR_BITS),
        "busy": Out(1), "done": Out(1), "checked": Out(1), "error": Out(ErrorCode),
    }
    for kind, n in port_counts().items():
        if n:
            members[kind.member] = Out(port_signature(kind, **sizes).flip()).array(n)
    return members


class ComputeEngines(wiring.Component):
    """All registered compute engines behind one engine handshake and shared SRAM ports."""

    def __init__(self, cfg: MachineConfig):
        self._cfg = cfg
        self._sizes = dict(dim=cfg.dim, sp_depth=cfg.sp_rows, acc_depth=cfg.acc_rows)
        super().__init__(compute_signature(self._sizes))

    def elaborate(self, platform):
        m = Module()
        engines = []
        for cls in ENGINES:
            e = cls.from_config(self._cfg, shared_mul=True) if cls.MULS else \
                cls.from_config(self._cfg)
            m.submodules[cls.__name__.lower()] = e
            engines.append(e)
        connect_engines(m, self, engines, ENGINES, self._cfg)
        return m


def connect_engines(m: Module, top, engines: list, classes, cfg: MachineConfig) -> None:
    """The glue of ``top`` (a ComputeEngines or ComputeGlue) to ``engines`` (engine ``n`` of
    class ``classes[n]``, or its members as an interface): start decode, active engine,
    done / busy / checked / error merge, shared multiplier bank, shared SRAM ports."""
    op = data.View(header_layout(), top.instr).opcode
    active = Signal(range(len(engines)))
    for n, (cls, e) in enumerate(zip(classes, engines, strict=True)):
        mine = 0
        for o in cls.OPCODES:
            mine = mine | (op == o)
        m.d.comb += [e.start.eq(top.start & mine), e.instr.eq(top.instr)]
        with m.If(top.start & mine):
            m.d.sync += active.eq(n)
    m.d.comb += [
        top.busy.eq(_any(e.busy for e in engines)),
        top.done.eq(_any(e.done for e in engines)),
        top.checked.eq(_any(e.checked for e in engines)),
    ]
    # The per-lane multipliers: one bank, fed by the active engine (hw/mulbank.py).
    connect_bank(m, engines, active, cfg.dim, muls=[cls.MULS for cls in classes])
    err = ErrorCode.NONE
    for e in engines:
        err = Mux(e.done, e.error, err)
    m.d.comb += top.error.eq(err)

    # Shared SRAM ports: engine n's k-th port of a kind -> shared port k while n is active.
    for kind in Port:
        for e_idx, (cls, e) in enumerate(zip(classes, engines, strict=True)):
            names = [name for name, k in cls.PORTS.items() if k == kind]
            for k, name in enumerate(names):
                mine, shared = getattr(e, name), getattr(top, kind.member)[k]
                sel = active == e_idx
                if kind.value[1] == "rd":
                    m.d.comb += mine.data.eq(shared.data)
                    with m.If(sel):
                        m.d.comb += [shared.addr.eq(mine.addr), shared.en.eq(mine.en)]
                else:
                    with m.If(sel):
                        m.d.comb += [shared.addr.eq(mine.addr), shared.data.eq(mine.data),
                                     shared.en.eq(mine.en)]


class ComputeGlue(wiring.Component):
    """``ComputeEngines``' glue alone (benchmarks/fpga_block_probe.py ``glue``): every
    engine's members are ports of this block (member ``e_<class name>``), the rest as in
    ComputeEngines."""

    def __init__(self, cfg: MachineConfig):
        self._cfg = cfg
        self._sizes = dict(dim=cfg.dim, sp_depth=cfg.sp_rows, acc_depth=cfg.acc_rows)
        members = compute_signature(self._sizes)
        for cls in ENGINES:
            e = cls.from_config(cfg, shared_mul=bool(cls.MULS))
            e._MustUse__silence = True  # only its signature is used
            members[f"e_{cls.__name__.lower()}"] = In(e.signature)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        engines = [getattr(self, f"e_{cls.__name__.lower()}") for cls in ENGINES]
        connect_engines(m, self, engines, ENGINES, self._cfg)
        return m


def _any(values):
    out = 0
    for v in values:
        out = out | v
    return out
