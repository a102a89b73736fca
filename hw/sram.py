"""On-chip SRAMs built only from memories that an FPGA block RAM can hold (docs/rtl.md, "Memories").

An :class:`Sram` is one logical memory (the scratchpad, the accumulator, a future score buffer)
with any number of synchronous read ports and write ports, each owned by a *role*: the queue
that uses it ("load", "compute", "store", ...). Engines ask for a port by role
(:meth:`Sram.read_port`, :meth:`Sram.write_port`); several engines of the same queue (the GEMM
unit and the vector engines all run in the compute queue, one instruction at a time) share the
role's port through a multiplexer on the engine that owns the queue (:func:`owner_select`).

Physically it is an *XOR multi-port memory* (:func:`_xor_multiport`) of simple-dual-port banks
(one write, one read port each: what yosys maps to DP16KD on ECP5 and RAMB18/36 on Xilinx):
writer ``i`` owns one bank per reader and one per other writer, all written alike with its data
XOR the other writers' banks at that row, so that the XOR of every writer's bank is the row's
last written value. The behaviour is exactly that of one multi-ported ``lib.memory.Memory``
with non-transparent synchronous reads seen through ``SRAM_READ_LATENCY - 1`` more register
stages (isa/cycles.py): a read with ``en`` high in cycle ``t`` returns, in cycle
``t + SRAM_READ_LATENCY``, the row as it was before the writes of cycle ``t``; a cycle with
``en`` low repeats, ``SRAM_READ_LATENCY`` cycles later, the data of the cycle before (the data
holds). Of two writes of one row in one cycle the later-numbered writer's wins. No
arbitration, no bank conflicts, no address dependence: cycles are those of the multi-ported
memory. The extra stages sit directly behind every bank's read data, ahead of the XOR of the
banks, so no path runs from a block RAM's clock-to-out through logic (Fmax, docs/rtl.md
"Memories").
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar

from amaranth.hdl import Elaboratable, Module, Mux, Signal
from amaranth.lib.memory import Memory, ReadPort, WritePort

from isa.cycles import SRAM_READ_LATENCY

__all__ = ["Sram", "owner_select", "bank_count", "staged_read_port", "MULTIPORT_KIND",
           "SRAM_READ_LATENCY", "for_synthesis"]

#: Whether a block RAM read of the row written in the same cycle returns that row inverted
#: (the simulation model: every simulation of the design) or the old row (``for_synthesis``).
#: Synthesis for ECP5 declares those reads don't-care (hw/fpga/bram.py ``COLLISION_X``), so
#: the block RAM needs no read-first emulation behind its output; the poisoned simulations
#: (Amaranth's, Verilator's, Icarus') show that no result depends on such a read.
_POISON = ContextVar("encore_sram_poison_collisions", default=True)


@contextmanager
def for_synthesis():
    """Elaborate inside this for synthesis: a same-cycle read of a written row is not
    poisoned (``_POISON``)."""
    token = _POISON.set(False)
    try:
        yield
    finally:
        _POISON.reset(token)


#: The attribute that marks a memory whose same-cycle read of a written row is don't-care
#: (its reads go through ``_read_data``); hw/fpga/bram.py ``COLLISION_X`` selects by it.
COLLISION_X_ATTR = "encore_collision_x"


def _read_data(m: Module, memory: Memory, rp, write_ports, name: str):
    """The data of ``memory``'s block RAM read port ``rp`` (one cycle after its address),
    inverted in the simulation model when a port of ``write_ports`` wrote that row in the
    read's cycle; ``memory`` is marked with ``COLLISION_X_ATTR``."""
    memory.attrs[COLLISION_X_ATTR] = 1
    if not _POISON.get():
        return rp.data
    hit = 0
    for wp in write_ports:
        hit = hit | (wp.en.any() & (wp.addr == rp.addr))
    collided = Signal(name=f"{name}_collided")
    m.d.sync += collided.eq(rp.en & hit)
    return Mux(collided, ~rp.data, rp.data)

#: How an SRAM with several writers is built: "xor" (:func:`_xor_multiport`). Earlier RTL:
#: "ff" (a bank per writer and reader, a live-value table of flip-flops choosing between them).
#: encore/dse/area.py keys its SRAM-logic term on it; ``encore fpga --json`` reports it.
MULTIPORT_KIND = "xor"


def bank_count(n_write: int, n_read: int) -> int:
    """Simple-dual-port banks an :class:`Sram` with these role counts is built from: with one
    writer one per reader; with more, each writer's once per reader and once per other writer."""
    return n_read if n_write == 1 else n_write * (n_read + n_write - 1)


def _read_stages(m: Module, name: str, en) -> list:
    """The load enables of the register stages behind a read port's block RAMs: ``en`` delayed
    by 1 .. ``SRAM_READ_LATENCY - 1`` cycles (stage ``k`` loads in the cycle after stage
    ``k - 1`` did, so a read's data moves down the stages and holds while ``en`` was low)."""
    enables = []
    for k in range(1, SRAM_READ_LATENCY):
        q = Signal(name=f"{name}_en{k}")
        m.d.sync += q.eq(en)
        enables.append(q)
        en = q
    return enables


def _staged(m: Module, value, enables: list, name: str):
    """``value`` (a block RAM's read data, or a register loaded with it) through the stages."""
    for k, en in enumerate(enables, start=1):
        # no reset: the register is a block RAM's output register on ECP5 (hw/fpga/bram.py)
        q = Signal(value.shape(), name=f"{name}_s{k}", reset_less=True)
        with m.If(en):
            m.d.sync += q.eq(value)
        value = q
    return value


def staged_read_port(m: Module, memory: Memory, name: str):
    """A read port of the simple-dual-port block RAM ``memory`` with the SRAMs' read contract:
    its synchronous read, then the read stages, so data comes ``SRAM_READ_LATENCY`` cycles
    after the address and holds while ``en`` is low (the module docstring). The engines'
    internal buffers (ATTN's score banks, query row and key mask, LAYERNORM's row buffer) and
    :class:`Sram`'s single-writer banks read through it."""
    rp = memory.read_port()
    port = ReadPort.Signature(addr_width=len(rp.addr), shape=memory.shape).create(
        path=(name,))
    stages = _read_stages(m, name, port.en)
    data = _read_data(m, memory, rp, memory.write_ports, name)
    m.d.comb += [rp.en.eq(port.en), rp.addr.eq(port.addr),
                 port.data.eq(_staged(m, data, stages, f"{name}_q"))]
    return port


def owner_select(m: Module, starts: list[Signal], name: str = "owner") -> list[Signal]:
    """One ``active`` signal per engine of a queue, given each engine's ``start`` pulse.

    The engine that started last owns the queue's SRAM ports (from its start cycle on, until
    another engine of the queue starts), so exactly one of the returned signals is high in
    every cycle (engine 0 before any start).
    """
    owner = Signal(range(max(2, len(starts))), name=name)
    current = Signal.like(owner, name=f"{name}_now")
    m.d.comb += current.eq(owner)
    for i, start in enumerate(starts):
        with m.If(start):
            m.d.comb += current.eq(i)
    m.d.sync += owner.eq(current)
    return [current == i for i in range(len(starts))]


class Sram(Elaboratable):
    """``depth`` rows of ``width`` bits; ports requested by role (see the module docstring).

    ``reads`` / ``writes``: the role names, one physical port each. A role's port may be
    requested several times (with an ``active`` signal each, see :func:`owner_select`); the
    requests are multiplexed onto the one port.
    """

    def __init__(self, name: str, *, width: int, depth: int, reads: tuple[str, ...],
                 writes: tuple[str, ...]):
        if not reads or not writes or len(set(reads)) != len(reads) \
                or len(set(writes)) != len(writes):
            self._MustUse__silence = True  # never built: do not warn about it as well
        if not reads or not writes:
            raise ValueError(f"SRAM {name!r} needs at least one read and one write role")
        for kind, roles in (("read", reads), ("write", writes)):
            if len(set(roles)) != len(roles):
                raise ValueError(f"SRAM {name!r}: duplicate {kind} role in {roles}")
        self.name, self.width, self.depth = name, width, depth
        self.reads, self.writes = tuple(reads), tuple(writes)
        self.addr_width = max(0, (depth - 1).bit_length())
        self._requests = {("r", r): [] for r in reads} | {("w", w): [] for w in writes}

    @property
    def banks(self) -> int:
        """Simple-dual-port banks this SRAM is built from."""
        return bank_count(len(self.writes), len(self.reads))

    def _request(self, kind: str, role: str, sig, active):
        key = (kind, role)
        if key not in self._requests:
            roles = self.reads if kind == "r" else self.writes
            raise ValueError(f"SRAM {self.name!r} has no {'read' if kind == 'r' else 'write'} "
                             f"role {role!r} (it has {', '.join(roles)})")
        reqs = self._requests[key]
        if reqs and (active is None or reqs[0][1] is None):
            raise ValueError(f"SRAM {self.name!r}: role {role!r} requested twice; every request "
                             "of a shared role needs an `active` signal")
        port = sig.create(path=(self.name, f"{kind}_{role}_{len(reqs)}"))
        reqs.append((port, active))
        return port

    def read_port(self, role: str, *, active=None):
        """A read port interface (memory side: connect it to an engine's ``In(ReadPort...)``)."""
        return self._request("r", role, ReadPort.Signature(addr_width=self.addr_width,
                                                           shape=self.width), active)

    def write_port(self, role: str, *, active=None):
        """A write port interface (memory side: connect it to an engine's ``In(WritePort...)``)."""
        return self._request("w", role, WritePort.Signature(addr_width=self.addr_width,
                                                            shape=self.width), active)

    def _merged(self, m: Module, kind: str, role: str):
        """The signals (en, addr[, data]) driving the role's one physical port."""
        reqs = self._requests[(kind, role)]
        if not reqs:
            raise ValueError(f"SRAM {self.name!r}: role {role!r} has no port requested")
        port = (ReadPort if kind == "r" else WritePort).Signature(
            addr_width=self.addr_width, shape=self.width).create(
            path=(self.name, f"{kind}_{role}"))
        names = ("en", "addr") + (("data",) if kind == "w" else ())
        for name in names:
            value = getattr(reqs[-1][0], name)
            for req, active in reversed(reqs[:-1]):
                value = Mux(active, getattr(req, name), value)
            m.d.comb += getattr(port, name).eq(value)
        if kind == "r":
            for req, _ in reqs:
                m.d.comb += req.data.eq(port.data)
        return port

    def elaborate(self, platform):
        m = Module()
        writers = [self._merged(m, "w", w) for w in self.writes]
        readers = [self._merged(m, "r", r) for r in self.reads]
        # one writer too: its writes' pipeline forwards a row written in the read's cycle, so
        # the banks' collisions are don't-care (hw/fpga/bram.py), as with several
        _xor_multiport(m, self.name, self.addr_width, self.depth, self.width, self.writes,
                       writers, self.reads, readers)
        return m


def _xor_multiport(m: Module, name: str, addr_width: int, depth: int, width: int, wroles,
                   writers, rroles, readers) -> None:
    """An SRAM with several writers from simple-dual-port banks (docs/rtl.md "Memories").

    Writer ``i`` owns the banks ``B_i`` (one per reader, one per other writer, all written
    alike); once a write is committed, a row's value is the XOR of every ``B_j`` at that row.
    A write of row ``a`` with data ``d`` by writer ``i`` in cycle ``c`` reads every other
    ``B_j[a]`` in cycle ``c`` (the block RAM's output goes straight into a register in
    ``c + 1``), computes ``d ^ XOR(B_j[a], j != i)`` in cycle ``c + 2`` and commits it to
    ``B_i[a]`` from a register in cycle ``c + 3``; the three writes of each writer not yet
    committed when a bank is read (cycles ``c - 1`` to ``c - 3``; the last one's bank read
    collides with its commit and is don't-care, hw/fpga/bram.py) are bypassed by address
    compares against the pipeline's registers. A later-numbered writer
    of the same row in the same cycle XORs in the earlier one's new value, so it wins, as in a
    multi-ported ``Memory``. A read of row ``a`` in cycle ``t`` returns, in
    ``t + SRAM_READ_LATENCY``, the data of the latest write of ``a`` of cycles ``t - 1`` to
    ``t - 3`` if there is one (selected in cycle ``t + 1`` from the registered address, then
    down the read stages), else the XOR of its banks, each bank's data registered by the read
    stages first (:func:`_read_stages`): one LUT per bit behind flip-flops, each fed by the
    same bit of each writer's bank (no wide select signal), and no logic behind a block RAM's
    output.
    """
    n = len(writers)

    def reg(value, name, en=None, like=None, reset_less=False):
        q = Signal.like(like, name=name) if like is not None else \
            Signal(value.shape(), name=name, reset_less=reset_less)
        if en is None:
            m.d.sync += q.eq(value)
        else:
            with m.If(en):
                m.d.sync += q.eq(value)
        return q

    # The write pipeline: d1 / d2 / d3 = the write of one / two / three cycles ago; stored[i]
    # is computed from d2 (its data XOR the other writers' banks), registered (sv1) and
    # committed with d3, so that no logic sits between the XOR and the block RAMs' data inputs,
    # which are spread over the device (Fmax: docs/rtl.md "Memories"); sv2 / sv3 = stored[i]
    # of two / three cycles ago.
    ds = [[(wr.en, wr.addr, wr.data) for wr in writers]]
    for age in (1, 2, 3, 4):  # d4: what d3 was when a registered address is compared
        ds.append([(reg(en, f"{name}_w{i}_en{age}"), reg(addr, f"{name}_w{i}_addr{age}"),
                    reg(data, f"{name}_w{i}_data{age}"))
                   for i, (en, addr, data) in enumerate(ds[-1])])
    d2, d3 = ds[2], ds[3]
    stored = [Signal(width, name=f"{name}_w{i}_stored") for i in range(n)]
    svs = [stored]
    for age in (1, 2, 3):
        svs.append([reg(v, f"{name}_w{i}_sv{age}") for i, v in enumerate(svs[-1])])
    ages = (1, 2, 3)  # the writes not yet committed when a bank is read

    def pending(j, addr_q):
        """age -> the row of a read of the previous cycle (its address registered: ``addr_q``,
        so no address logic of an engine sits in front of the compare) was written by writer
        j ``age`` cycles before that read, not yet committed then."""
        return {age: ds[age + 1][j][0] & (ds[age + 1][j][1] == addr_q) for age in ages}

    def bank(j: int, user: str, en, addr):
        mem = Memory(shape=width, depth=depth, init=[])
        m.submodules[f"{name}_{wroles[j]}_to_{user}"] = mem
        wp, rp = mem.write_port(), mem.read_port()
        m.d.comb += [wp.en.eq(d3[j][0]), wp.addr.eq(d3[j][1]), wp.data.eq(svs[1][j]),
                     rp.en.eq(en), rp.addr.eq(addr)]
        return _read_data(m, mem, rp, (wp,), f"{name}_{wroles[j]}_to_{user}")

    for i, wr in enumerate(writers):
        value = d2[i][2]
        for j in range(n):
            if j == i:
                continue
            # the bank's read data registered: the block RAM's output register on ECP5
            old = reg(bank(j, f"w_{wroles[i]}", wr.en, wr.addr), f"{name}_w{i}_old{j}",
                      reset_less=True)
            hits = pending(j, ds[1][i][1])  # in c + 1, against the write's address of c
            for age in reversed(ages):  # the newest pending write last: it wins
                h = reg(hits[age], f"{name}_w{i}_h{age}_{j}_q")
                old = Mux(h, svs[age][j], old)
            if j < i:  # the same row written by an earlier writer in the same cycle
                same = d2[j][0] & (d2[j][1] == d2[i][1])
                old = Mux(same, stored[j], old)
            value = value ^ old
        m.d.comb += stored[i].eq(value)

    for role, rd in zip(rroles, readers, strict=True):
        stages = _read_stages(m, f"{name}_r_{role}", rd.en)
        committed = 0
        for j in range(n):
            committed = committed ^ _staged(m, bank(j, f"r_{role}", rd.en, rd.addr), stages,
                                            f"{name}_{wroles[j]}_to_r_{role}_q")
        # the pending writes of the read of cycle t, decided in t + 1 from its registered
        # address (each write then one cycle older), then down the read stages
        addr_q = reg(rd.addr, f"{name}_r_{role}_addr_q")
        hits = [pending(j, addr_q) for j in range(n)]
        forced, latest = 0, 0
        for age in reversed(ages):  # the older pending writes first: a newer one overrides them
            for j in range(n):  # the same cycle: the highest-numbered writer last
                forced = forced | hits[j][age]
                latest = Mux(hits[j][age], ds[age + 1][j][2], latest)
        forced_q = _staged(m, forced, stages, f"{name}_r_{role}_forced")
        latest_q = _staged(m, latest, stages, f"{name}_r_{role}_latest")
        m.d.comb += rd.data.eq(Mux(forced_q, latest_q, committed))
