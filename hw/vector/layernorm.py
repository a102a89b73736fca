"""LAYERNORM engine (docs/isa.md, ``isa.numerics.layernorm8``), DIM lanes, one ACC read port.

Schedule (``isa.cycles.layernorm_cycles``; tests/hw/test_vector_layernorm.py checks it
cycle-exactly):

1. **Header** (``LN_HEADER_READS`` cycles): read the header row (lane 0 ``n_valid``, lane 1
   ``shift``). The cycle it arrives the engine raises ``checked`` and decides, in the functional
   simulator's order, BAD_FIELD (``n_valid`` outside ``[1, blocks*DIM]``, shift outside
   ``[0, 62]``), then the late word checks (src, dst ranges: SRAM_RANGE); on an error it raises
   ``done`` at once, having written nothing.
2. **Groups** of up to ``LN_GROUP_ROWS`` rows, one after another:

   a. *Statistics reads*: every block of every row of the group, one per cycle; a 4-stage
      pipeline clamps to int24, masks lanes ``>= n_valid``, squares and reduces the lanes and
      accumulates ``sum(x)`` and ``sum(x^2)`` per row (``LN_SUM_PIPELINE``).
   b. *Statistics* per row, serially (``ln_stats_cycles``): ``mean = floor(sum / n)`` by
      restoring division of ``sum + n*2^23`` (24 quotient bits), ``S2 = sum(x^2) - 2*mean*sum +
      n*mean^2`` (= ``sum((x - mean)^2)`` exactly, so one read pass suffices), ``var = floor(S2
      / n)`` (48 bits), ``std = max(isqrt(var), 1)`` (digit by digit, 24 bits), ``inv =
      floor(2^30 / std)`` (32 bits); ``LN_BITS_PER_CYCLE`` bits per cycle.
   c. *Normalise*: per block read gamma and beta once, then the block's row of each row of the
      group; 6 stages: ``d = x - mean``; ``d * inv``; round by 16, ``sat32``, mask; ``* gamma``;
      ``+ beta``; round by ``shift`` and the ``plane`` output (``sat8``, or a plane of the
      16-bit result: ``common.out_plane``); then the scratchpad write. A one-row group
      (``LN_BUFFER_ROWS``) keeps its clamped row in the row buffer (block RAM) from its
      statistics reads: per block it reads gamma, then beta with the buffered row beside it.

The next group's statistics reads overlap the previous group's last writes; ``done`` comes in
the cycle of the last write.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed
from amaranth.lib.memory import Memory

from isa import PARAM_ROWS_PER_BLOCK, ErrorCode, Opcode, numerics
from isa import cycles as C
from isa.fields import BLOCKS

from ..engine import Engine, Port
from ..mulbank import product, product_latency
from ..sram import staged_read_port
from .common import (
    PLANE_BITS,
    SHIFT_BITS,
    delay,
    lanes,
    out_plane,
    pack,
    reg,
    round_shift,
    rshift_round_const,
    saturate,
    tree_sum,
)

G = C.LN_GROUP_ROWS
assert C.LN_BUFFER_ROWS == 1, "the row buffer holds one row (indexed by block)"
STEP = C.LN_BITS_PER_CYCLE
QW = C.LN_VAR_BITS  # quotient register width (the widest quotient)
# Phases of the sequencer.
IDLE, HDR, SREAD, SWAIT, CALC, NREAD, DRAIN = range(7)
# Statistics micro-states.
(M_INIT, M_DIV, S2A, S2B, V_INIT, V_DIV, R_INIT, R_SQRT, I_INIT, I_DIV, STORE) = range(11)
# What a read is (travels with it).
K_NONE, K_HDR, K_STAT, K_GAMMA, K_BETA, K_ROW = range(6)


def _div_step(rem, quo, den):
    """One restoring-division step: shift the next numerator bit (quo's MSB) into rem."""
    r2 = Cat(quo[QW - 1], rem)
    ge = r2 >= den
    return Mux(ge, r2 - den, r2)[:len(rem)], Cat(ge, quo[:QW - 1])


def _sqrt_step(rem, root, val):
    """One digit-by-digit square-root step: bring down val's top two bits."""
    r2 = Cat(val[QW - 2:QW], rem)
    trial = Cat(Const(1, 2), root)
    ge = r2 >= trial
    return Mux(ge, r2 - trial, r2)[:len(rem)], Cat(ge, root)[:len(root)], Cat(Const(0, 2),
                                                                                 val[:QW - 2])



def row_buffer_shape(dim: int, acc_depth: int) -> tuple[int, int]:
    """(depth, width) of the row buffer: as many blocks as a LAYERNORM's parameters can span
    (also the FPGA area model's block-RAM count, encore/dse/area.py)."""
    op = Opcode.LAYERNORM
    return max(1, min((1 << BLOCKS) - 1, (acc_depth - 1) // PARAM_ROWS_PER_BLOCK[op])), 24 * dim

class LayerNormEngine(Engine):
    OPCODES = (Opcode.LAYERNORM,)
    PORTS = {"acc_rd": Port.ACC_RD, "sp_wr": Port.SP_WR}
    MULS = (0, 1, 2)  # x^2; d * inv; n * gamma (hw/mulbank.py)

    @classmethod
    def static_checks(cls, op, word, cfg):
        v = cls.view_of(op, word)
        return [((v.rows == 0) | (v.blocks == 0), ErrorCode.BAD_FIELD),
                (v.plane == 3, ErrorCode.BAD_FIELD),
                (v.param + 1 + PARAM_ROWS_PER_BLOCK[op] * v.blocks > cfg.acc_rows,
                 ErrorCode.SRAM_RANGE)]

    @classmethod
    def late_checks(cls, op, word, cfg):
        v = cls.view_of(op, word)
        n = v.rows * v.blocks
        return [(v.src + n > cfg.acc_rows, ErrorCode.SRAM_RANGE),
                (v.dst + n > cfg.sp_rows, ErrorCode.SRAM_RANGE)]

    def elaborate(self, platform):
        m = Module()
        d = self._dim
        lg = d.bit_length() - 1
        op = Opcode.LAYERNORM
        ins_word = Signal.like(self.instr, name="ins")
        ins = self.view(op, ins_word)
        rd, wr = self.acc_rd, self.sp_wr
        m.d.comb += rd.en.eq(1)
        # Row buffer: a one-row group's clamped row, written by its statistics reads and read by
        # its normalise pass (block RAM; as many blocks as a LAYERNORM's parameters can span).
        buf_depth, buf_width = row_buffer_shape(d, self._acc_depth)
        m.submodules.row_buf = row_buf = Memory(shape=buf_width, depth=buf_depth, init=[])
        buf_wr, buf_rd = row_buf.write_port(), staged_read_port(m, row_buf, "row_buf_rd")
        brow = Signal()                   # the normalise row of this cycle comes from the buffer

        phase = Signal(range(7))
        g0 = Signal(16)                   # first row of the group
        gs = Signal(range(G + 1))         # rows in the group
        r = Signal(range(G))              # row within the group
        j = Signal(10)                    # block
        blocks_m1 = Signal(10)            # blocks - 1: equality compares, no adder (Fmax)
        left = Signal(16)                 # rows after the current group
        joff = Signal(26)                 # j * rows
        t = Signal(range(G + 2))          # normalise: 0 gamma, 1 beta, 2.. rows
        kind = Signal(3)
        last = Signal()
        wait = Signal(range(C.LN_SUM_PIPELINE + 1))
        n_valid = Signal(18)
        shift = Signal(SHIFT_BITS)
        single = gs == C.LN_BUFFER_ROWS   # the group's row is in the row buffer
        t_end = Mux(single, 1, gs + 1)    # the block's last normalise read
        ri = Mux(single, 0, t - 2)[:len(r)]  # row within the group of this normalise read

        # -- issue -----------------------------------------------------------------------------
        with m.Switch(phase):
            with m.Case(HDR):
                m.d.comb += [rd.addr.eq(ins.param), kind.eq(K_HDR)]
                m.d.sync += phase.eq(SREAD)
            with m.Case(SREAD):
                m.d.comb += [rd.addr.eq(ins.src + joff + g0 + r), kind.eq(K_STAT)]
                m.d.sync += [j.eq(j + 1), joff.eq(joff + ins.rows)]
                with m.If(j == blocks_m1):
                    m.d.sync += [j.eq(0), joff.eq(0), r.eq(r + 1)]
                    with m.If(r + 1 == gs):
                        m.d.sync += [r.eq(0), phase.eq(SWAIT), wait.eq(0)]
            with m.Case(SWAIT):
                m.d.sync += wait.eq(wait + 1)
                with m.If(wait == C.LN_SUM_PIPELINE - 1):
                    m.d.sync += phase.eq(CALC)
            with m.Case(NREAD):
                with m.If(t == 0):
                    m.d.comb += [rd.addr.eq(ins.param + 1 + (j << 1)), kind.eq(K_GAMMA)]
                with m.Elif(t == 1):
                    m.d.comb += [rd.addr.eq(ins.param + 2 + (j << 1)), kind.eq(K_BETA),
                                 brow.eq(single)]
                with m.Else():
                    m.d.comb += [rd.addr.eq(ins.src + joff + g0 + ri), kind.eq(K_ROW)]
                m.d.sync += t.eq(t + 1)
                with m.If(t == t_end):
                    m.d.sync += [t.eq(0), j.eq(j + 1), joff.eq(joff + ins.rows)]
                    with m.If(j == blocks_m1):
                        m.d.sync += [j.eq(0), joff.eq(0)]
                        with m.If(left == 0):
                            m.d.comb += last.eq(1)
                            m.d.sync += phase.eq(DRAIN)
                        with m.Else():
                            nxt = Mux(left > G, G, left)
                            m.d.sync += [g0.eq(g0 + gs), phase.eq(SREAD), gs.eq(nxt),
                                         left.eq(left - nxt)]

        # -- read data, SRAM_READ_LATENCY cycles later (the row buffer's too) -----------------
        lat = C.SRAM_READ_LATENCY
        kind_q = delay(m, kind, lat, "kind_q")
        last_q = delay(m, last, lat, "last_q")
        brow_q = delay(m, brow, lat, "brow_q")
        r_q = delay(m, Mux(phase == NREAD, ri, r)[:len(r)], lat, "r_q")
        j_q = delay(m, j, lat, "j_q")
        first_q = delay(m, j == 0, lat, "first_q")
        end_q = delay(m, j == blocks_m1, lat, "end_q")
        off_q = delay(m, (joff + g0 + ri)[:26], lat, "off_q")
        word = rd.data
        x = lanes(word, 32, d)

        # Header checks.
        hdr_n, hdr_s = x[0], word[32:64]
        bad = (hdr_n < 1) | (hdr_n > (ins.blocks << lg)) | (hdr_s > numerics.MAX_SHIFT)
        late = self.late_error(m, op, ins_word)
        with m.If(kind_q == K_HDR):
            m.d.comb += self.checked.eq(1)
            m.d.sync += [n_valid.eq(hdr_n[:18]), shift.eq(hdr_s[:SHIFT_BITS])]
            err = Mux(bad, ErrorCode.BAD_FIELD, late)
            with m.If(err != ErrorCode.NONE):
                m.d.comb += [self.error.eq(err), self.done.eq(1)]
                m.d.sync += [self.busy.eq(0), phase.eq(IDLE)]

        col = Cat(Const(0, lg), j_q)  # j * DIM
        lane_ok = [col + n < n_valid for n in range(d)]
        x24 = [saturate(v, numerics.LN_IN_BITS) for v in x]
        m.d.comb += [buf_wr.addr.eq(j_q), buf_wr.data.eq(pack(x24, 24)),
                     buf_wr.en.eq((kind_q == K_STAT) & single),
                     buf_rd.addr.eq(j), buf_rd.en.eq(1)]
        # The normalise pass's row: from the accumulator, or (one-row group) from the buffer.
        xn = [Mux(brow_q, b, v) for b, v in zip(lanes(buf_rd.data, 24, d), x24, strict=True)]

        # -- statistics pipeline: clamp + mask, square, reduce, accumulate ------------------
        v1 = reg(m, kind_q == K_STAT, "st_v1")
        tag1 = [reg(m, s, f"st1_{i}") for i, s in enumerate((r_q, first_q, end_q))]
        xs = [reg(m, Mux(ok, v, 0), f"xs{n}", shape=signed(24))
              for n, (ok, v) in enumerate(zip(lane_ok, x24, strict=True))]
        sq_cycles = self.mul_cycles(0)
        v2 = delay(m, v1, sq_cycles, "st_v2")
        tag2 = [delay(m, s, sq_cycles, f"st2_{i}") for i, s in enumerate(tag1)]
        sq = self.mul(m, 0, xs, xs, "sq")
        xs2 = [delay(m, v, sq_cycles, f"xs2_{n}") for n, v in enumerate(xs)]
        v3 = reg(m, v2, "st_v3")
        tag3 = [reg(m, s, f"st3_{i}") for i, s in enumerate(tag2)]
        s3 = reg(m, tree_sum(xs2), "sum3", shape=signed(42))
        q3 = reg(m, tree_sum(sq), "sq3", shape=64)
        acc_s = Signal(signed(42))
        acc_q = Signal(64)
        slot_s = Array(Signal(signed(42), name=f"slot_s{k}") for k in range(G))
        slot_q = Array(Signal(64, name=f"slot_q{k}") for k in range(G))
        new_s = Mux(tag3[1], 0, acc_s) + s3
        new_q = Mux(tag3[1], 0, acc_q) + q3
        with m.If(v3):
            m.d.sync += [acc_s.eq(new_s), acc_q.eq(new_q)]
            with m.If(tag3[2]):
                m.d.sync += [slot_s[tag3[0]].eq(new_s), slot_q[tag3[0]].eq(new_q)]

        # -- statistics: divide, S2, divide, isqrt, reciprocal ----------------------------------
        sub = Signal(range(12))
        cnt = Signal(6)
        rem = Signal(26)
        quo = Signal(QW)
        den = Signal(25)
        root = Signal(C.LN_ROOT_BITS)
        mean = Signal(signed(25))
        wait_s2 = Signal(range(2 * C.MUL_WIDE_CYCLES + 1))
        slot_mean = Array(Signal(signed(25), name=f"slot_mean{k}") for k in range(G))
        slot_inv = Array(Signal(32, name=f"slot_inv{k}") for k in range(G))
        cs, cq = slot_s[r], slot_q[r]
        # S2 = sum(x^2) - 2*mean*sum + n*mean^2 from pipelined products of registers that hold
        # through S2B (mean, this row's sums, n_valid): mean*sum and mean^2 after
        # MUL_WIDE_CYCLES, n*mean^2 (from the mean^2 product) after twice that.
        t1 = product(m, mean, cs, "ln_t1")
        t2 = product(m, mean, mean, "ln_t2")
        t3 = product(m, n_valid, t2.as_unsigned()[:48], "ln_t3")
        assert product_latency(mean, cs) + product_latency(n_valid, t2[:48]) == C.LN_S2_WAIT
        # sum(x^2) - 2*mean*sum, registered once t1 has settled (the wait for t3 is longer):
        # V_INIT then adds t3 alone, one carry chain instead of two.
        s2_part = reg(m, cq - (t1 << 1), "ln_s2_part")

        def div_init(num, bits, divisor, nxt):
            return [rem.eq(num >> bits), quo.eq((num[:bits]) << (QW - bits)), den.eq(divisor),
                    cnt.eq(bits // STEP), sub.eq(nxt)]

        def iterate(nxt):
            rr, qq = rem, quo
            for _ in range(STEP):
                rr, qq = _div_step(rr, qq, den)
            m.d.sync += [rem.eq(rr), quo.eq(qq), cnt.eq(cnt - 1)]
            with m.If(cnt == 1):
                m.d.sync += sub.eq(nxt)

        with m.If(phase == CALC):
            with m.Switch(sub):
                with m.Case(M_INIT):
                    m.d.sync += div_init((cs + (n_valid << 23)).as_unsigned()[:42],
                                         C.LN_MEAN_BITS, n_valid, M_DIV)
                with m.Case(M_DIV):
                    iterate(S2A)
                with m.Case(S2A):
                    m.d.sync += [mean.eq(quo[:C.LN_MEAN_BITS] - (1 << 23)), sub.eq(S2B),
                                 wait_s2.eq(0)]
                with m.Case(S2B):  # the pipelined products below settle
                    m.d.sync += wait_s2.eq(wait_s2 + 1)
                    with m.If(wait_s2 == C.LN_S2_WAIT - 1):
                        m.d.sync += sub.eq(V_INIT)
                with m.Case(V_INIT):
                    s2 = (s2_part + t3).as_unsigned()[:66]
                    m.d.sync += div_init(s2, C.LN_VAR_BITS, n_valid, V_DIV)
                with m.Case(V_DIV):
                    iterate(R_INIT)
                with m.Case(R_INIT):
                    m.d.sync += [rem.eq(0), root.eq(0), quo.eq(quo),
                                 cnt.eq(C.LN_ROOT_BITS // STEP), sub.eq(R_SQRT)]
                with m.Case(R_SQRT):
                    rr, ro, vv = rem, root, quo
                    for _ in range(STEP):
                        rr, ro, vv = _sqrt_step(rr, ro, vv)
                    m.d.sync += [rem.eq(rr), root.eq(ro), quo.eq(vv), cnt.eq(cnt - 1)]
                    with m.If(cnt == 1):
                        m.d.sync += sub.eq(I_INIT)
                with m.Case(I_INIT):
                    std = Mux(root == 0, 1, root)
                    m.d.sync += div_init(Const(1 << numerics.LN_INV_BITS, 33), C.LN_RECIP_BITS,
                                         std, I_DIV)
                with m.Case(I_DIV):
                    iterate(STORE)
                with m.Case(STORE):
                    m.d.sync += [slot_mean[r].eq(mean), slot_inv[r].eq(quo[:32]),
                                 sub.eq(M_INIT), r.eq(r + 1)]
                    with m.If(r + 1 == gs):
                        m.d.sync += [r.eq(0), phase.eq(NREAD), t.eq(0), j.eq(0), joff.eq(0)]

        # -- normalise pipeline -----------------------------------------------------------------
        gamma, beta = Signal(32 * d), Signal(32 * d)
        with m.If(kind_q == K_GAMMA):
            m.d.sync += gamma.eq(word)
        with m.If(kind_q == K_BETA):
            m.d.sync += beta.eq(word)
        row_mean, row_inv = slot_mean[r_q], slot_inv[r_q]
        nv = [reg(m, (kind_q == K_ROW) | brow_q, "nv0")]
        nlast = [reg(m, last_q, "nl0")]
        noff = [reg(m, off_q, "no0")]
        dd = [reg(m, v - row_mean, f"dd{n}", shape=signed(25)) for n, v in enumerate(xn)]
        ok1 = [reg(m, ok, f"ok1_{n}") for n, ok in enumerate(lane_ok)]
        inv1 = reg(m, row_inv, "inv1")
        gam = reg(m, gamma, "gam1")
        # A buffered row arrives with its block's beta: take beta as it arrives.
        bet = reg(m, Mux(kind_q == K_BETA, word, beta), "bet1")
        l_pr, l_gm = self.mul_cycles(1), self.mul_cycles(2)
        assert C.LN_NORM_PIPELINE == C.SRAM_READ_LATENCY + 4 + C.ROUND_CYCLES + l_pr + l_gm
        for k in range(1, 4 + C.ROUND_CYCLES + l_pr + l_gm):
            nv.append(reg(m, nv[-1], f"nv{k}"))
            nlast.append(reg(m, nlast[-1], f"nl{k}"))
            noff.append(reg(m, noff[-1], f"no{k}"))
        # inv = floor(2^30 / std) with std >= 1: at most 2^30, 31 bits.
        pr = self.mul(m, 1, dd, [inv1[:31]] * d, "pr")
        # the rounding add registered, then the saturation (together they were the engine's
        # longest routed path, 93.6 MHz: docs/rtl.md "FPGA")
        rn = [reg(m, rshift_round_const(v, numerics.LN_NORM_SHIFT), f"rn{n}",
                  shape=signed(len(v) - numerics.LN_NORM_SHIFT + 1)) for n, v in enumerate(pr)]
        ok2 = [delay(m, ok, l_pr + 1, f"ok2_{n}") for n, ok in enumerate(ok1)]
        gam = delay(m, gam, l_pr + 1, "gam2")
        bet = delay(m, bet, l_pr + 1, "bet2")
        nrm = [reg(m, Mux(ok, saturate(v, 32), 0), f"nrm{n}", shape=signed(32))
               for n, (ok, v) in enumerate(zip(ok2, rn, strict=True))]
        gam = reg(m, gam, "gam3")
        bet = reg(m, bet, "bet3")
        gm = self.mul(m, 2, nrm, lanes(gam, 32, d), "gm")
        bet = delay(m, bet, l_gm, "bet4")
        h = [reg(m, v + b, f"h{n}") for n, (v, b) in enumerate(zip(gm, lanes(bet, 32, d),
                                                                    strict=True))]
        out = [reg(m, out_plane(round_shift(m, v, shift, f"or{n}", bits=PLANE_BITS), ins.plane),
                   f"o{n}")
               for n, v in enumerate(h)]
        m.d.comb += [wr.addr.eq(ins.dst + noff[-1]), wr.data.eq(pack(out, 8)),
                     wr.en.eq(nv[-1] & self.busy)]
        with m.If(nv[-1] & nlast[-1] & self.busy):
            m.d.comb += self.done.eq(1)
            m.d.sync += [self.busy.eq(0), phase.eq(IDLE)]

        start = self.view(op)
        with m.If(self.start):
            m.d.sync += [
                ins_word.eq(self.instr), self.busy.eq(1), phase.eq(HDR), g0.eq(0),
                gs.eq(Mux(start.rows > G, G, start.rows)), r.eq(0), j.eq(0), joff.eq(0),
                blocks_m1.eq(start.blocks - 1),
                left.eq(start.rows - Mux(start.rows > G, G, start.rows)),
                t.eq(0), sub.eq(M_INIT),
            ]
        return m
