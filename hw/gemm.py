"""GEMM sequencer: streams K-chained weight tiles and A rows through the systolic array and
accumulates the results into the accumulator (docs/isa.md, GEMM).

Schedule (verified against numpy in tests/hw/test_array.py and tests/hw/test_gemm.py): with
``P = max(rows, DIM)``, K-block k owns the cycles ``[k*P, (k+1)*P)`` after the start. In its
cycle t it reads weight row t (t < DIM) on one scratchpad port and A row t - 1
(1 <= t <= rows) on another. Row r of tile k is thus written (into buffer k % 2) one cycle
before A row 0 of tile k reaches PE row r, and ``2P >= rows + DIM - 1`` keeps it from
overwriting weights the last A row of tile k - 2 still needs: the next tile loads while the
current one computes, with no bubble once ``rows >= DIM``.

The SRAM data arrives ``L = SRAM_READ_LATENCY`` cycles after the address (hw/sram.py): the
control travels down ``L`` registers beside it. Results leave the array ``2*DIM - 1`` cycles
after their A row entered; the ACC row is read as a result leaves and written back ``L``
cycles later, the result waiting in ``L`` registers (int32 wrap; with ``shift8`` the product
is shifted left by 8 first, in the first register). Rows of consecutive K-blocks hit the same
ACC row ``P >= DIM >= 4 > L`` cycles apart, after the earlier write, so no forwarding is
needed.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data

from isa import ErrorCode, Opcode
from isa.cycles import SRAM_READ_LATENCY as L
from isa.cycles import gemm_cycles  # noqa: F401 - the schedule below; tests import it here
from isa.numerics import WIDE_SHIFT

from .array import SystolicArray
from .engine import Engine, Port
from .isa_layout import instr_layout
from .vector.common import delay

TAG = data.StructLayout({"row": 16, "first": 1, "last": 1})


class GemmUnit(Engine):
    """GEMM engine (hw/engine.py interface); busy for ``isa.cycles.gemm_cycles``."""

    OPCODES = (Opcode.GEMM,)
    PORTS = {"a_rd": Port.SP_RD, "w_rd": Port.SP_RD, "acc_rd": Port.ACC_RD,
             "acc_wr": Port.ACC_WR}

    @classmethod
    def static_checks(cls, op, word, cfg):
        gm = data.View(instr_layout(Opcode.GEMM), word)
        return [((gm.rows == 0) | (gm.kblocks == 0), ErrorCode.BAD_FIELD),
                ((gm.a_addr + (gm.kblocks - 1) * gm.a_stride + gm.rows > cfg.sp_rows)
                 | (gm.w_addr + gm.kblocks * cfg.dim > cfg.sp_rows)
                 | (gm.c_addr + gm.rows > cfg.acc_rows), ErrorCode.SRAM_RANGE)]

    def elaborate(self, platform):
        m = Module()
        d = self._dim
        m.submodules.array = arr = SystolicArray(dim=d, tag_width=TAG.size)
        ins = Signal(instr_layout(Opcode.GEMM))
        instr = self.view(Opcode.GEMM)
        period = Signal(17)
        issuing = Signal()
        k = Signal(12)
        t = Signal(17)
        w_base = Signal(32)
        a_base = Signal(32)

        # -- issue: weight row t of K-block k, and A row t - 1 (from the previous cycle's counters,
        # so the last A row of a block may fall into the first cycle of the next period) ------
        t_p = Signal.like(t)
        k_p = Signal.like(k)
        issuing_p = Signal()
        a_base_p = Signal.like(a_base)
        m.d.sync += [t_p.eq(t), k_p.eq(k), issuing_p.eq(issuing), a_base_p.eq(a_base)]
        w_issue = issuing & (t < d)
        a_issue = issuing_p & (t_p < ins.rows)
        m.d.comb += [
            self.w_rd.addr.eq(w_base + t), self.w_rd.en.eq(1),
            self.a_rd.addr.eq(a_base_p + t_p), self.a_rd.en.eq(1),
        ]
        with m.If(issuing):
            m.d.sync += t.eq(t + 1)
            with m.If(t + 1 == period):
                m.d.sync += [t.eq(0), k.eq(k + 1), w_base.eq(w_base + d),
                             a_base.eq(a_base + ins.a_stride)]
                with m.If(k + 1 == ins.kblocks):
                    m.d.sync += issuing.eq(0)

        # The SRAM data arrives L cycles after the address: delay the control to match.
        tag = Signal(TAG)
        m.d.comb += [tag.row.eq(t_p), tag.first.eq((k_p == 0) & ~ins.accumulate),
                     tag.last.eq((k_p + 1 == ins.kblocks) & (t_p + 1 == ins.rows))]
        w_en_q, w_idx_q, w_sel_q, a_valid_q, a_sel_q, tag_q = (
            delay(m, v, L, name) for v, name in (
                (w_issue, "w_en_q"), (t[:max(1, (d - 1).bit_length())], "w_idx_q"),
                (k[0], "w_sel_q"), (a_issue, "a_valid_q"), (k_p[0], "a_sel_q"), (tag, "tag_q")))
        m.d.comb += [
            arr.w_row.eq(self.w_rd.data), arr.w_idx.eq(w_idx_q), arr.w_buf.eq(w_sel_q),
            arr.w_en.eq(w_en_q),
            arr.a_row.eq(self.a_rd.data), arr.a_sel.eq(a_sel_q), arr.a_valid.eq(a_valid_q),
            arr.a_tag.eq(tag_q),
        ]

        # -- accumulate: read the ACC row as the result leaves the array, write it back L later
        out_tag = data.View(TAG, arr.c_tag)
        m.d.comb += [self.acc_rd.addr.eq(ins.c_addr + out_tag.row), self.acc_rd.en.eq(1)]
        v_q = Signal()
        wb_tag = Signal(TAG)
        c_q = Signal(32 * d)
        # shift8 (the high plane of a 16-bit A): the product << 8, wrapped to int32, before the
        # add; the shift is wiring and a 2-way select ahead of the register, off the adder path.
        c_row = arr.c_row.as_value()
        shifted = Cat(*[Cat(Const(0, WIDE_SHIFT), c_row[32 * n: 32 * n + 32 - WIDE_SHIFT])
                        for n in range(d)])
        m.d.sync += [v_q.eq(arr.c_valid), wb_tag.eq(arr.c_tag),
                     c_q.eq(Mux(ins.shift8, shifted, c_row))]
        v_q, wb_tag, c_q = (delay(m, v, L - 1, name)
                            for v, name in ((v_q, "v_q"), (wb_tag, "wb_tag"), (c_q, "c_q")))
        old = Mux(wb_tag.first, 0, self.acc_rd.data)
        lanes = [(old[32 * n: 32 * n + 32] + c_q[32 * n: 32 * n + 32])[:32] for n in range(d)]
        summed = Cat(*lanes)  # each lane wraps to int32
        m.d.comb += [
            self.acc_wr.addr.eq(ins.c_addr + wb_tag.row), self.acc_wr.data.eq(summed),
            self.acc_wr.en.eq(v_q & self.busy),
        ]
        with m.If(self.busy & v_q & wb_tag.last):
            m.d.sync += self.busy.eq(0)
            m.d.comb += self.done.eq(1)

        with m.If(self.start):
            m.d.sync += [
                ins.eq(self.instr), self.busy.eq(1), issuing.eq(1), k.eq(0), t.eq(0),
                issuing_p.eq(0),
                period.eq(Mux(instr.rows > d, instr.rows, d)),
                w_base.eq(instr.w_addr), a_base.eq(instr.a_addr),
            ]
        return m
