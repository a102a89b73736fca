"""Instruction decode and checks: the error code an instruction raises, before it is dispatched.

Almost every check of docs/isa.md depends only on the instruction word, the machine parameters
and the DRAM size register, so the dispatcher performs them in program order and an instruction
that fails never starts. Precedence (first failing check wins): ILLEGAL_OPCODE; BAD_FIELD for
non-zero unused bits; DEPENDENCY (a flag towards a missing neighbour, then a pop with no
earlier push in program order, as the functional simulator reports); UNIMPLEMENTED; then the
opcode's own checks in the order sim/functional.py makes them.

Compute opcodes take their checks from their engine (hw/engine.py ``static_checks``; the
registration in hw/compute.py says which opcodes this build executes). Opcodes with checks on
data (REQUANT, GELU, RESADD: shift parameters; LAYERNORM: ``n_valid`` and its shift) are decided
by their engine when it runs, and the functional simulator makes some word checks after those
(the engine's ``late_checks``, which ``late_error`` also reports here); the dispatcher
dispatches nothing after such an instruction until the engine has decided (hw/controller.py),
so a failing one still stops the machine with nothing after it started.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from isa import INSTR_BITS, ErrorCode, MachineConfig, Opcode, Queue, queue_of

from .compute import COMPUTE_OPCODES, ENGINE_OF, HOLD_OPCODES
from .engine import Engine
from .isa_layout import header_layout, instr_layout, used_bits

#: Opcodes this hardware build executes (the rest raise UNIMPLEMENTED).
IMPLEMENTED = (Opcode.LOAD, Opcode.STORE, *COMPUTE_OPCODES)
#: Opcodes with checks on data (their parameters): decided by their engine when they run.
RUNTIME_CHECKED = HOLD_OPCODES


class InstrChecker(wiring.Component):
    """Combinational: ``word`` -> ``error`` (ErrorCode) and ``queue`` (isa.Queue).

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
        cfg, word = self._cfg, self.word
        hdr = data.View(header_layout(), word)
        ld = data.View(instr_layout(Opcode.LOAD), word)  # STORE has the same layout
        known = Signal()
        unused_set = Signal()
        with m.Switch(hdr.opcode):
            for op in Opcode:
                with m.Case(op):
                    m.d.comb += [known.eq(1), unused_set.eq(word[used_bits(op):] != 0),
                                 self.queue.eq(queue_of(op))]

        missing_dep = Mux(self.queue == Queue.LOAD, hdr.pop_prev | hdr.push_prev,
                          Mux(self.queue == Queue.STORE, hdr.pop_next | hdr.push_next, 0))
        underflow = (hdr.pop_prev & ~self.pop_prev_ok) | (hdr.pop_next & ~self.pop_next_ok)

        # LOAD / STORE
        sram_limit = Mux(ld.mem, cfg.acc_rows, cfg.sp_rows)
        nbytes = Mux(ld.mem, ld.cols << 2, ld.cols)
        dma_last = ld.dram_addr + (ld.rows - 1) * ld.dram_stride + nbytes
        dma_err = Signal(ErrorCode)
        with m.If((ld.rows == 0) | (ld.cols == 0) | (ld.cols > cfg.dim)):
            m.d.comb += dma_err.eq(ErrorCode.BAD_FIELD)
        with m.Elif(ld.sram_addr + ld.rows > sram_limit):
            m.d.comb += dma_err.eq(ErrorCode.SRAM_RANGE)
        with m.Elif(dma_last > self.dram_size):
            m.d.comb += dma_err.eq(ErrorCode.DRAM_RANGE)

        op_err = {op: Engine.first_error(e.static_checks(op, word, cfg))
                  for op, e in ENGINE_OF.items()}
        for op in RUNTIME_CHECKED:
            with m.If(hdr.opcode == op):
                m.d.comb += self.late_error.eq(
                    Engine.first_error(ENGINE_OF[op].late_checks(op, word, cfg)))

        implemented = Signal()
        for op in IMPLEMENTED:
            with m.If(hdr.opcode == op):
                m.d.comb += implemented.eq(1)

        with m.If(~known):
            m.d.comb += self.error.eq(ErrorCode.ILLEGAL_OPCODE)
        with m.Elif(unused_set):
            m.d.comb += self.error.eq(ErrorCode.BAD_FIELD)
        with m.Elif(missing_dep | underflow):
            m.d.comb += self.error.eq(ErrorCode.DEPENDENCY)
        with m.Elif(~implemented):
            m.d.comb += self.error.eq(ErrorCode.UNIMPLEMENTED)
        with m.Elif((hdr.opcode == Opcode.LOAD) | (hdr.opcode == Opcode.STORE)):
            m.d.comb += self.error.eq(dma_err)
        for op, err in op_err.items():
            with m.Elif(hdr.opcode == op):
                m.d.comb += self.error.eq(err)
        return m
