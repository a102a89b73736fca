"""Instruction decode and checks: the error code an instruction raises, before it is dispatched.

Almost every check of docs/isa.md depends only on the instruction word, the machine parameters
and the DRAM size register, so the dispatcher performs them in program order and an instruction
that fails never starts. Precedence (first failing check wins): ILLEGAL_OPCODE; BAD_FIELD for
non-zero unused bits; DEPENDENCY (a flag towards a missing neighbour, then a pop with no
earlier push in program order, as the functional simulator reports); UNIMPLEMENTED; then the
opcode's own checks in the order sim/functional.py makes them.

The exception is REQUANT (``RUNTIME_CHECKED``): its shift parameters live in the accumulator,
so the check "every shift lane in [0, MAX_SHIFT]" (BAD_FIELD) can only be made when the
instruction runs, and the functional simulator makes it *before* the destination range check
(SRAM_RANGE). The checker makes REQUANT's static checks up to the parameter range; the vector
unit (hw/vector.py) makes the shift check and then ``requant_dst_out_of_range`` (the same
expression ``late_error`` reports here), and the dispatcher dispatches nothing after a REQUANT
until the unit has decided (hw/controller.py), so a failing REQUANT still stops the machine
with nothing after it started.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from isa import INSTR_BITS, PARAM_ROWS_PER_BLOCK, ErrorCode, MachineConfig, Opcode, Queue, queue_of

from .isa_layout import header_layout, instr_layout, used_bits

#: Opcodes this hardware build executes (the rest raise UNIMPLEMENTED).
IMPLEMENTED = (Opcode.NOP, Opcode.LOAD, Opcode.STORE, Opcode.GEMM, Opcode.REQUANT)
#: Opcodes with checks on data (their parameters): decided by their unit when they run.
RUNTIME_CHECKED = (Opcode.REQUANT,)


def requant_dst_out_of_range(ins, sp_rows: int):
    """REQUANT's destination tile leaves the scratchpad (``ins``: a REQUANT layout view)."""
    return ins.dst + ins.rows * ins.blocks > sp_rows


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
            # REQUANT only: the error it raises if its shift parameters pass (NONE or
            # SRAM_RANGE); the vector unit computes the same expression when it runs.
            "late_error": Out(ErrorCode),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, word = self._cfg, self.word
        hdr = data.View(header_layout(), word)
        ld = data.View(instr_layout(Opcode.LOAD), word)  # STORE has the same layout
        gm = data.View(instr_layout(Opcode.GEMM), word)
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

        # GEMM
        gemm_err = Signal(ErrorCode)
        with m.If((gm.rows == 0) | (gm.kblocks == 0)):
            m.d.comb += gemm_err.eq(ErrorCode.BAD_FIELD)
        with m.Elif((gm.a_addr + (gm.kblocks - 1) * gm.a_stride + gm.rows > cfg.sp_rows)
                    | (gm.w_addr + gm.kblocks * cfg.dim > cfg.sp_rows)
                    | (gm.c_addr + gm.rows > cfg.acc_rows)):
            m.d.comb += gemm_err.eq(ErrorCode.SRAM_RANGE)

        # REQUANT: static checks up to the parameter rows (sim/functional.py order)
        rq = data.View(instr_layout(Opcode.REQUANT), word)
        requant_err = Signal(ErrorCode)
        n_rows = rq.rows * rq.blocks
        with m.If((rq.rows == 0) | (rq.blocks == 0)):
            m.d.comb += requant_err.eq(ErrorCode.BAD_FIELD)
        with m.Elif((rq.src + n_rows > cfg.acc_rows)
                    | (rq.param + PARAM_ROWS_PER_BLOCK[Opcode.REQUANT] * rq.blocks
                       > cfg.acc_rows)):
            m.d.comb += requant_err.eq(ErrorCode.SRAM_RANGE)
        with m.If(requant_dst_out_of_range(rq, cfg.sp_rows)):
            m.d.comb += self.late_error.eq(ErrorCode.SRAM_RANGE)

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
        with m.Elif(hdr.opcode == Opcode.GEMM):
            m.d.comb += self.error.eq(gemm_err)
        with m.Elif(hdr.opcode == Opcode.REQUANT):
            m.d.comb += self.error.eq(requant_err)
        return m
