"""Instruction decode and checks: the error code an instruction raises, before it is dispatched.

Almost every check of docs/isa.md depends only on the instruction word, the machine parameters
and the DRAM size register (sampled at START), so they are made on the word as it passes
through the fetch buffer, pipelined over ``isa.cycles.FETCH_CHECK_STAGES`` cycles
(:func:`pipelined_checks`, in hw/fetch.py); the dispatcher adds the one part that depends on
program order (a pop with no token pushed earlier: :func:`dispatch_error`), in program order,
and an instruction that fails never starts. Precedence (first failing check wins):
ILLEGAL_OPCODE; BAD_FIELD for non-zero unused bits; DEPENDENCY (a flag towards a missing
neighbour, then a pop with no earlier push in program order, as the functional simulator
reports); UNIMPLEMENTED; then the opcode's own checks in the order sim/functional.py makes them.

Compute opcodes take their checks from their engine (hw/engine.py ``static_checks``; the
registration in hw/compute.py says which opcodes this build executes). Opcodes with checks on
data (REQUANT, GELU, RESADD: shift parameters; LAYERNORM: ``n_valid`` and its shift) are decided
by their engine when it runs, and the functional simulator makes some word checks after those
(the engine's ``late_checks``, which ``late_error`` also reports here); the dispatcher
dispatches nothing after such an instruction until the engine has decided (hw/controller.py),
so a failing one still stops the machine with nothing after it started.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from isa import INSTR_BITS, ErrorCode, MachineConfig, Opcode, Queue, queue_of
from isa.cycles import QUEUE_CHAIN

from .compute import COMPUTE_OPCODES, ENGINE_OF, HOLD_OPCODES
from .engine import Engine
from .isa_layout import header_layout, instr_layout, used_bits
from .products import check_rebuilt, register_products

#: Opcodes this hardware build executes (the rest raise UNIMPLEMENTED).
IMPLEMENTED = (Opcode.LOAD, Opcode.STORE, *COMPUTE_OPCODES)
#: Opcodes with checks on data (their parameters): decided by their engine when they run.
RUNTIME_CHECKED = HOLD_OPCODES
#: The dependency-token channels (source queue, destination queue), in a fixed order.
CHANNELS = tuple([(q, n) for q, (_, n) in QUEUE_CHAIN.items() if n is not None]
                 + [(q, p) for q, (p, _) in QUEUE_CHAIN.items() if p is not None])


def dispatch_flags(word, queue) -> dict:
    """What the dispatcher does with a word that passes, as expressions of the word and its
    ``queue``: ``onehot`` (the target queue), ``pushes`` / ``pops`` (one bit per CHANNELS
    entry: the word pushes a token into / pops one from that channel), ``hold`` (a
    RUNTIME_CHECKED opcode: hold dispatch until its engine has checked its data)."""
    hdr = data.View(header_layout(), word)
    pushes, pops = [], []
    for src, dst in CHANNELS:
        prev_src, next_src = QUEUE_CHAIN[src]
        prev_dst, _ = QUEUE_CHAIN[dst]
        pushes.append((queue == src) & (hdr.push_next if dst == next_src else hdr.push_prev))
        pops.append((queue == dst) & (hdr.pop_prev if src == prev_dst else hdr.pop_next))
        assert dst in (prev_src, next_src)
    return {"onehot": [queue == q for q in Queue], "pushes": pushes, "pops": pops,
            "hold": _any(hdr.opcode == op for op in HOLD_OPCODES)}


def _any(values):
    out = Const(0)
    for v in values:
        out = out | v
    return out


def word_checks(cfg: MachineConfig, word, dram_size) -> dict:
    """The checks on the word alone (``dram_size`` is constant during a run), as expressions.

    ``pre``: the checks that precede DEPENDENCY's token-count part (ILLEGAL_OPCODE, BAD_FIELD
    for unused bits, DEPENDENCY for a flag towards a missing neighbour); ``post``: the checks
    after it (UNIMPLEMENTED, then the opcode's own); ``late``: see :class:`InstrChecker`. Each
    is a list of groups of ``(condition, ErrorCode)`` in precedence order; at most one group of
    a list (one opcode's) can have a true condition, so :func:`resolve` takes the first true
    condition of each group and ORs the groups' codes. ``queue``: the instruction's queue. Pure
    expressions of ``word`` and ``dram_size`` (no statements), so that
    :func:`pipelined_checks` can register their products and conditions.
    """
    hdr = data.View(header_layout(), word)
    ld = data.View(instr_layout(Opcode.LOAD), word)  # STORE has the same layout
    is_op = {op: hdr.opcode == op for op in Opcode}
    known = _any(is_op.values())
    unused_set = _any(is_op[op] & (word[used_bits(op):] != 0) for op in Opcode
                      if used_bits(op) < INSTR_BITS)
    queue = Const(0, 2)
    for op in Opcode:
        queue = Mux(is_op[op], queue_of(op), queue)
    missing_dep = Mux(queue == Queue.LOAD, hdr.pop_prev | hdr.push_prev,
                      Mux(queue == Queue.STORE, hdr.pop_next | hdr.push_next, 0))
    pre = [[(~known, ErrorCode.ILLEGAL_OPCODE), (unused_set, ErrorCode.BAD_FIELD),
            (missing_dep, ErrorCode.DEPENDENCY)]]

    # LOAD / STORE: the last DRAM byte + 1 is dram_addr + (rows - 1) * dram_stride + bytes per
    # row (rows - 1 as 16 bits: rows = 0 fails BAD_FIELD first).
    sram_limit = Mux(ld.mem, cfg.acc_rows, cfg.sp_rows)
    nbytes = Mux(ld.mem, ld.cols << 2, ld.cols)
    dma_end = ld.dram_addr + nbytes + (ld.rows - 1)[:len(ld.rows)] * ld.dram_stride
    is_dma = is_op[Opcode.LOAD] | is_op[Opcode.STORE]
    implemented = _any(is_op[op] for op in IMPLEMENTED)
    post = [[(~implemented, ErrorCode.UNIMPLEMENTED)],
            [(is_dma & ((ld.rows == 0) | (ld.cols == 0) | (ld.cols > cfg.dim)),
              ErrorCode.BAD_FIELD),
             (is_dma & (ld.sram_addr + ld.rows > sram_limit), ErrorCode.SRAM_RANGE),
             (is_dma & (dma_end > dram_size), ErrorCode.DRAM_RANGE)]]
    post += [[(is_op[op] & cond, code) for cond, code in e.static_checks(op, word, cfg)]
             for op, e in ENGINE_OF.items()]
    late = [[(is_op[op] & cond, code) for cond, code in ENGINE_OF[op].late_checks(op, word, cfg)]
            for op in RUNTIME_CHECKED]
    return {"pre": pre, "post": post, "late": late, "queue": queue}


def resolve(groups) -> Value:
    """The ErrorCode of ``groups`` (see :func:`word_checks`): NONE if no condition holds."""
    out = Const(ErrorCode.NONE, ErrorCode)
    for group in groups:
        if group:
            out = out | Engine.first_error(group)
    return out


def pipelined_checks(m: Module, cfg: MachineConfig, word, dram_size, *, stages: int):
    """:func:`word_checks` of ``word`` over ``stages`` = 3 register stages: (1) the word and the
    operands of every product the checks contain (the DRAM range of LOAD / STORE, the engines'
    ``static_checks`` / ``late_checks``), (2) the products alone (a DSP multiplier each, no
    logic around them), (3) every condition, from the stage-2 word and products. Returns
    ``(word3, fields)``: the stage-3 word and its ``pre_error``, ``post_error``,
    ``late_error`` (:func:`resolve` of the registered conditions), ``fails`` (pre or post is
    not NONE), ``queue`` and the :func:`dispatch_flags` (``onehot``, ``pushes``, ``pops`` as
    bit vectors in Queue / CHANNELS order, ``hold``)."""
    assert stages == 3, "the stages are written out below"
    second = register_products(m, _conditions(word_checks(cfg, word, dram_size)), "check")
    word1, word2, word3 = (Signal(INSTR_BITS, name=f"check_word{i}") for i in (1, 2, 3))
    m.d.sync += [word1.eq(word), word2.eq(word1), word3.eq(word2)]
    checks = word_checks(cfg, word2, dram_size)
    registered_conds = []  # of pre and post: any of them true = the word fails

    def registered(cond, k):
        r = Signal(name=f"check_cond{len(registered_conds)}_{k}")
        m.d.sync += r.eq(second(Value.cast(cond)))
        if k != "late":
            registered_conds.append(r)
        return r

    fields = {k: resolve([[(registered(c, k), code) for c, code in g] for g in checks[k]])
              for k in ("pre", "post", "late")}
    queue = Signal(2, name="check_queue")
    m.d.sync += queue.eq(checks["queue"])
    check_rebuilt(second)
    conds = list(registered_conds)
    out = {"pre_error": fields["pre"], "post_error": fields["post"],
           "late_error": fields["late"], "queue": queue, "fails": _any(conds)}
    for k, v in dispatch_flags(word2, checks["queue"]).items():
        bits = v if isinstance(v, list) else [v]
        regs_k = [Signal(name=f"check_{k}{i}") for i in range(len(bits))]
        m.d.sync += [r.eq(b) for r, b in zip(regs_k, bits, strict=True)]
        out[k] = Cat(*regs_k)
    return word3, out


def _conditions(checks: dict):
    for k in ("pre", "post", "late"):
        for group in checks[k]:
            for cond, _ in group:
                yield cond


def dispatch_error(pre_error, post_error, underflow):
    """The instruction's error: ``pre_error``, else DEPENDENCY for a pop with no token pushed
    earlier in program order (``underflow``: the dispatcher's counts), else ``post_error``."""
    return Mux(pre_error != ErrorCode.NONE, pre_error,
               Mux(underflow, ErrorCode.DEPENDENCY, post_error))


class InstrChecker(wiring.Component):
    """Combinational: ``word`` -> ``error`` (ErrorCode) and ``queue`` (isa.Queue): the word
    checks (:func:`word_checks`, :func:`resolve`) and :func:`dispatch_error` in one cycle.
    The machine runs the same functions pipelined in the fetch buffer (hw/fetch.py); this
    block is their reference in tests.

    ``pop_prev_ok`` / ``pop_next_ok``: the program-order token count from that neighbour of
    this instruction's queue is non-zero (the dispatcher keeps those counts).
    """

    def __init__(self, cfg: MachineConfig):
        if not isinstance(cfg, MachineConfig):
            raise TypeError(f"expected a MachineConfig, not {cfg!r}")
        self._cfg = cfg
        super().__init__({
            "word": In(INSTR_BITS), "dram_size": In(32),
            "pop_prev_ok": In(1), "pop_next_ok": In(1),
            "error": Out(ErrorCode), "queue": Out(2),
            # RUNTIME_CHECKED only: the error its late word checks give if its data checks
            # pass (NONE or SRAM_RANGE); the engine computes the same expression.
            "late_error": Out(ErrorCode),
        })

    def elaborate(self, platform):
        m = Module()
        checks = word_checks(self._cfg, self.word, self.dram_size)
        hdr = data.View(header_layout(), self.word)
        underflow = (hdr.pop_prev & ~self.pop_prev_ok) | (hdr.pop_next & ~self.pop_next_ok)
        m.d.comb += [
            self.queue.eq(checks["queue"]), self.late_error.eq(resolve(checks["late"])),
            self.error.eq(dispatch_error(resolve(checks["pre"]), resolve(checks["post"]),
                                         underflow)),
        ]
        return m
