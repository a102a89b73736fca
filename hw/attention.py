"""ATTN engine (docs/isa.md "ATTN"): sequential, one query row at a time, DIM lanes.

Ports: the shared compute-side ports (two scratchpad reads: Q and K, or V; one scratchpad
write: O; one accumulator read: parameters and key mask) plus its own score buffer, a
``max_seq x 33``-bit memory with one read and one write port (block RAM, read like the SRAMs:
``hw.sram.staged_read_port``). Every read's data arrives ``SRAM_READ_LATENCY`` cycles after its
address; the control travels beside it in as many registers. Schedule
(``isa.cycles.attn_cycles``; tests/hw/test_attention.py checks it cycle-exactly):

1. **Shift scan** (``attn_scan_cycles``): the header row (lane 0 ``m_s``, lane 1 ``s_s``), then
   every block's output-shift row. The cycle the last one arrives the engine raises
   ``checked`` and decides BAD_FIELD (any shift outside ``[0, 62]``), else the late word checks
   (Q, K, V, O ranges: SRAM_RANGE); on an error ``done`` at once, nothing written.
2. Per query row ``q``:

   a. **QK^T**: for every key ``k`` and head block ``j`` read ``Q[q]`` and ``K[k]`` of block
      ``j`` (and the key's mask row); DIM products, adder tree, accumulate over the blocks,
      ``* m_s``, ``sat32(rshift_round(., s_s))``; write ``{valid, F}`` into the score buffer
      and keep the row maximum of the valid scores.
   b. **exp**: read each score: ``d = max(F - mx, -2^16)``, ``z = floor(-d / 2839)`` (23
      comparators), ``r``, ``(r + 5542)^2 * 5874``, ``E``; write ``E`` back, sum the row.
   c. **reciprocal**: ``R = floor(2^32 / sum)`` by restoring division (``ATTN_RECIP_BITS``).
   d. **PV**, per head block: read its ``m_o`` and ``s_o`` rows, then for every key read
      ``V[k]`` and ``E[k]``: ``P = min(255, rshift_round(E * R, 24))``, ``P * V`` per lane,
      accumulate; ``sat8(rshift_round(O * m_o, s_o))`` written to ``O[q]`` of the block.

   Each phase waits for its pipeline to drain (``ATTN_*_DRAIN``); ``done`` comes in the cycle
   of the last write.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib.memory import Memory

from isa import ErrorCode, MachineConfig, Opcode, numerics
from isa import cycles as C

from .engine import Engine, Port
from .mulbank import product, product_latency
from .sram import staged_read_port
from .vector.common import (
    SHIFT_BITS,
    delay,
    lanes,
    pack,
    reg,
    round_shift,
    rshift_round_const,
    saturate,
    shift_bad,
    tree_sum,
)

OP = Opcode.ATTN
(IDLE, SCAN, SCANW, QK, QKW, EXP, EXPW, RINIT, RDIV, PVP, PV, PVW) = range(12)
QB = C.ATTN_RECIP_BITS
LN2, CLAMP = numerics.SOFTMAX_LN2, numerics.SOFTMAX_CLAMP
Z_MAX = CLAMP // LN2  # 23


def _div_step(rem, quo, den):
    r2 = Cat(quo[QB - 1], rem)
    ge = r2 >= den
    return Mux(ge, r2 - den, r2)[:len(rem)], Cat(ge, quo[:QB - 1])


class AttentionEngine(Engine):
    OPCODES = (Opcode.ATTN,)
    PORTS = {"q_rd": Port.SP_RD, "k_rd": Port.SP_RD, "acc_rd": Port.ACC_RD, "sp_wr": Port.SP_WR}
    MULS = (0, 3, 4)  # O * m_o; q * k; P * v (hw/mulbank.py)

    def __init__(self, *, dim, sp_depth, acc_depth, max_seq=MachineConfig.max_seq,
                 shared_mul=False):
        self._max_seq = max_seq
        super().__init__(dim=dim, sp_depth=sp_depth, acc_depth=acc_depth, shared_mul=shared_mul)

    @classmethod
    def from_config(cls, cfg, **kw):
        return cls(dim=cfg.dim, sp_depth=cfg.sp_rows, acc_depth=cfg.acc_rows,
                   max_seq=cfg.max_seq, **kw)

    @staticmethod
    def _param_rows(v, dim):
        lg = dim.bit_length() - 1
        return 1 + (v.hd_blocks << 1) + ((v.seq + dim - 1) >> lg)

    @classmethod
    def static_checks(cls, op, word, cfg):
        v = cls.view_of(op, word)
        return [((v.seq == 0) | (v.hd_blocks == 0), ErrorCode.BAD_FIELD),
                (v.seq > cfg.max_seq, ErrorCode.BAD_FIELD),
                (v.param + cls._param_rows(v, cfg.dim) > cfg.acc_rows, ErrorCode.SRAM_RANGE)]

    @classmethod
    def late_checks(cls, op, word, cfg):
        v = cls.view_of(op, word)
        n = v.seq * v.hd_blocks
        return [(a + n > cfg.sp_rows, ErrorCode.SRAM_RANGE)
                for a in (v.q_addr, v.k_addr, v.v_addr, v.o_addr)]

    def elaborate(self, platform):
        m = Module()
        d = self._dim
        lg = d.bit_length() - 1
        ins_word = Signal.like(self.instr, name="ins")
        ins = self.view(OP, ins_word)
        seq, hb = ins.seq, ins.hd_blocks
        m.submodules.buf = buf = Memory(shape=33, depth=self._max_seq, init=[])
        brd, bwr = staged_read_port(m, buf, "buf_rd"), buf.write_port()
        qrd, krd, ard, wr = self.q_rd, self.k_rd, self.acc_rd, self.sp_wr
        m.d.comb += [qrd.en.eq(1), krd.en.eq(1), ard.en.eq(1), brd.en.eq(1)]

        phase = Signal(range(12))
        q = Signal(12)
        k = Signal(12)
        j = Signal(6)
        joff = Signal(18)   # j * seq
        wait = Signal(range(max(C.ATTN_QK_DRAIN, C.ATTN_EXP_DRAIN, C.ATTN_PV_DRAIN) + 1))
        mask0 = ins.param + 1 + (hb << 1)

        def drain(n, nxt):
            m.d.sync += wait.eq(wait + 1)
            with m.If(wait == n - 1):
                m.d.sync += [wait.eq(0), phase.eq(nxt)]

        # -- sequencer and reads ----------------------------------------------------------------
        scan_t = Signal(7)
        scan_v = Signal()
        scan_last = Signal()
        qk_v, qk_first, qk_last = Signal(), Signal(), Signal()
        ex_v = Signal()
        pp_v, pp_s = Signal(), Signal()
        pv_v, pv_first = Signal(), Signal()
        row_done = (q + 1 == seq)
        rem = Signal(29)
        quo = Signal(QB)
        den = Signal(28)
        cnt = Signal(range(QB // C.ATTN_RECIP_STEP + 1))
        total = Signal(28)
        with m.Switch(phase):
            with m.Case(SCAN):
                m.d.comb += [ard.addr.eq(ins.param + (scan_t << 1)), scan_v.eq(1),
                             scan_last.eq(scan_t == hb)]
                m.d.sync += scan_t.eq(scan_t + 1)
                with m.If(scan_t == hb):
                    m.d.sync += phase.eq(SCANW)
            with m.Case(QK):
                m.d.comb += [qrd.addr.eq(ins.q_addr + joff + q), krd.addr.eq(ins.k_addr + joff + k),
                             ard.addr.eq(mask0 + (k >> lg)), qk_v.eq(1), qk_first.eq(j == 0),
                             qk_last.eq(j + 1 == hb)]
                m.d.sync += [j.eq(j + 1), joff.eq(joff + seq)]
                with m.If(j + 1 == hb):
                    m.d.sync += [j.eq(0), joff.eq(0), k.eq(k + 1)]
                    with m.If(k + 1 == seq):
                        m.d.sync += [k.eq(0), phase.eq(QKW)]
            with m.Case(QKW):
                drain(C.ATTN_QK_DRAIN, EXP)
            with m.Case(EXP):
                m.d.comb += [brd.addr.eq(k), ex_v.eq(1)]
                m.d.sync += k.eq(k + 1)
                with m.If(k + 1 == seq):
                    m.d.sync += [k.eq(0), phase.eq(EXPW)]
            with m.Case(EXPW):
                drain(C.ATTN_EXP_DRAIN, RINIT)
            with m.Case(RINIT):
                m.d.sync += [rem.eq(1 << (numerics.RECIP_BITS - QB)), quo.eq(0), den.eq(total),
                             cnt.eq(QB // C.ATTN_RECIP_STEP), phase.eq(RDIV)]
            with m.Case(RDIV):
                rr, qq = rem, quo
                for _ in range(C.ATTN_RECIP_STEP):
                    rr, qq = _div_step(rr, qq, den)
                m.d.sync += [rem.eq(rr), quo.eq(qq), cnt.eq(cnt - 1)]
                with m.If(cnt == 1):
                    m.d.sync += [phase.eq(PVP), wait.eq(0), j.eq(0), joff.eq(0)]
            with m.Case(PVP):
                m.d.comb += [ard.addr.eq(ins.param + 1 + (j << 1) + wait[0]), pp_v.eq(1),
                             pp_s.eq(wait[0])]
                m.d.sync += wait.eq(wait + 1)
                with m.If(wait == C.ATTN_PV_PARAM_READS - 1):
                    m.d.sync += [wait.eq(0), phase.eq(PV)]
            with m.Case(PV):
                m.d.comb += [qrd.addr.eq(ins.v_addr + joff + k), brd.addr.eq(k), pv_v.eq(1),
                             pv_first.eq(k == 0)]
                m.d.sync += k.eq(k + 1)
                with m.If(k + 1 == seq):
                    m.d.sync += [k.eq(0), phase.eq(PVW)]
            with m.Case(PVW):
                m.d.sync += wait.eq(wait + 1)
                with m.If(wait == C.ATTN_PV_DRAIN - 1):
                    m.d.sync += [wait.eq(0), j.eq(j + 1), joff.eq(joff + seq), phase.eq(PVP)]
                    with m.If(j + 1 == hb):
                        m.d.sync += [j.eq(0), joff.eq(0), q.eq(q + 1), phase.eq(QK)]
                        with m.If(row_done):
                            m.d.comb += self.done.eq(1)
                            m.d.sync += [self.busy.eq(0), phase.eq(IDLE)]

        # -- shift scan: data SRAM_READ_LATENCY cycles later ------------------------------------
        lat = C.SRAM_READ_LATENCY
        word = ard.data
        scan_q = delay(m, scan_v, lat, "scan_q")
        scan_last_q = delay(m, scan_last, lat, "scan_last_q")
        scan_hdr_q = delay(m, scan_v & (scan_t == 0), lat, "scan_hdr_q")
        m_s = Signal(signed(32))
        s_s = Signal(SHIFT_BITS)
        bad_seen = Signal()
        bad_now = bad_seen | Mux(scan_hdr_q, word[32:64] > numerics.MAX_SHIFT, shift_bad(word, d))
        late = self.late_error(m, OP, ins_word)
        with m.If(scan_q):
            m.d.sync += bad_seen.eq(bad_now)
            with m.If(scan_hdr_q):
                m.d.sync += [m_s.eq(word[:32].as_signed()), s_s.eq(word[32:32 + SHIFT_BITS])]
            with m.If(scan_last_q):
                m.d.comb += self.checked.eq(1)
                err = Mux(bad_now, ErrorCode.BAD_FIELD, late)
                with m.If(err != ErrorCode.NONE):
                    m.d.comb += [self.error.eq(err), self.done.eq(1)]
                    m.d.sync += [self.busy.eq(0), phase.eq(IDLE)]
                with m.Else():
                    m.d.sync += [phase.eq(QK), q.eq(0), k.eq(0), j.eq(0), joff.eq(0)]

        # -- QK^T pipeline: products, tree, accumulate, * m_s, round, write ---------------------
        v1 = delay(m, qk_v, lat, "qk_v1")
        f1 = delay(m, qk_first, lat, "qk_f1")
        l1 = delay(m, qk_last, lat, "qk_l1")
        k1 = delay(m, k, lat, "qk_k1")
        lane_sel = Signal(range(d))
        m.d.comb += lane_sel.eq(k1[:lg] if lg else 0)
        msk = Signal()
        m.d.comb += msk.eq(Cat(*[ln != 0 for ln in lanes(word, 32, d)]).bit_select(lane_sel, 1))
        prods = self.mul(m, 3, lanes(qrd.data, 8, d), lanes(krd.data, 8, d), "qk_p")
        v2, f2, l2, k2, m2 = (delay(m, s, self.mul_cycles(3), f"qk2_{i}")
                              for i, s in enumerate((v1, f1, l1, k1, msk)))
        tree = reg(m, tree_sum(prods), "qk_tree", shape=signed(16 + lg + 1))
        v3, f3, l3, k3, m3 = (reg(m, s, f"qk3_{i}") for i, s in enumerate((v2, f2, l2, k2, m2)))
        sacc = Signal(signed(28))
        with m.If(v3):
            m.d.sync += sacc.eq(Mux(f3, 0, sacc) + tree)
        v4 = reg(m, v3 & l3, "qk_v4")
        k4, m4 = reg(m, k3, "qk_k4"), reg(m, m3, "qk_m4")
        sprod = product(m, sacc, m_s, "qk_prod")
        l_s = product_latency(sacc, m_s)
        v5, k5, m5 = (delay(m, v, l_s, nm) for v, nm in ((v4, "qk_v5"), (k4, "qk_k5"),
                                                           (m4, "qk_m5")))
        fix = reg(m, saturate(round_shift(m, sprod, s_s, "qk_r", bits=33), 32), "qk_fix",
                  shape=signed(32))
        v6, k6, m6 = (delay(m, v, C.ROUND_CYCLES, nm) for v, nm in ((v5, "qk_v6"), (k5, "qk_k6"),
                                                                      (m5, "qk_m6")))
        mx = Signal(signed(32))
        any_valid = Signal()
        with m.If(v6 & m6):
            m.d.sync += any_valid.eq(1)
            with m.If(~any_valid | (fix > mx)):
                m.d.sync += mx.eq(fix)
        with m.If((phase == QK) & (k == 0) & (j == 0)):  # a new row
            m.d.sync += any_valid.eq(0)

        # -- exp pipeline -------------------------------------------------------------------------
        e1v = delay(m, ex_v, lat, "ex_v1")
        e1k = delay(m, k, lat, "ex_k1")
        bval = brd.data[32]
        diff = brd.data[:32].as_signed() - mx
        nd = reg(m, Mux(~bval | (diff >= 0), 0, Mux(diff < -CLAMP, CLAMP, -diff)), "ex_nd",
                 shape=17)
        e2 = [reg(m, s, f"ex2_{i}") for i, s in enumerate((e1v, e1k, bval))]
        z = reg(m, tree_sum(nd >= LN2 * i for i in range(1, Z_MAX + 1)), "ex_z", shape=5)
        nd3 = reg(m, nd, "ex_nd3")
        e3 = [reg(m, s, f"ex3_{i}") for i, s in enumerate(e2)]
        rb = reg(m, numerics.EXP_B - (nd3 - z * LN2), "ex_rb", shape=signed(14))
        e4 = [reg(m, s, f"ex4_{i}") for i, s in enumerate(e3)]
        z4 = reg(m, z, "ex_z4")
        sq = reg(m, rb * rb, "ex_sq", shape=26)
        e5 = [reg(m, s, f"ex5_{i}") for i, s in enumerate(e4)]
        z5 = reg(m, z4, "ex_z5")
        exp_a = Const(numerics.EXP_A)
        ta = product(m, sq, exp_a, "ex_ta")
        l_a = product_latency(sq, exp_a)
        e6 = [delay(m, s, l_a, f"ex6_{i}") for i, s in enumerate(e5)]
        z6 = delay(m, z5, l_a, "ex_z6")
        ev = (rshift_round_const(ta, numerics.EXP_SHIFT) + numerics.EXP_C) >> z6
        e_out = reg(m, Mux(e6[2], ev, 0), "ex_e", shape=17)
        e7v, e7k = reg(m, e6[0], "ex_v7"), reg(m, e6[1], "ex_k7")
        with m.If(e7v):
            m.d.sync += total.eq(total + e_out)
        with m.If(phase == QKW):
            m.d.sync += total.eq(0)

        # buffer write: the score (QK^T) or E (exp)
        with m.If(v6):
            m.d.comb += [bwr.addr.eq(k6), bwr.data.eq(Cat(fix, m6)), bwr.en.eq(1)]
        with m.Elif(e7v):
            m.d.comb += [bwr.addr.eq(e7k), bwr.data.eq(e_out), bwr.en.eq(1)]

        # -- PV pipeline ----------------------------------------------------------------------
        pp_q, pps_q = delay(m, pp_v, lat, "pp_q"), delay(m, pp_s, lat, "pps_q")
        m_o, s_o = Signal(32 * d), Signal(32 * d)
        with m.If(pp_q & ~pps_q):
            m.d.sync += m_o.eq(word)
        with m.If(pp_q & pps_q):
            m.d.sync += s_o.eq(word)
        recip = Mux(den == 0, 0, quo)
        p1v, p1f = delay(m, pv_v, lat, "pv_v1"), delay(m, pv_first, lat, "pv_f1")
        er = product(m, brd.data[:17], recip, "pv_er")
        l_r = product_latency(brd.data[:17], recip)
        vv = delay(m, qrd.data, l_r, "pv_v")
        p2v, p2f = delay(m, p1v, l_r, "pv_v2"), delay(m, p1f, l_r, "pv_f2")
        pr = rshift_round_const(er, numerics.RECIP_BITS - numerics.PROB_FRAC)
        prob = reg(m, Mux(pr > numerics.PROB_MAX, numerics.PROB_MAX, pr), "pv_p", shape=8)
        vv3 = reg(m, vv, "pv_vv3")
        p3v, p3f = reg(m, p2v, "pv_v3"), reg(m, p2f, "pv_f3")
        pvl = self.mul(m, 4, [Cat(prob, Const(0, 1)).as_signed()] * d, lanes(vv3, 8, d),
                       "pv_pl")
        p4v, p4f = (delay(m, v, self.mul_cycles(4), nm) for v, nm in ((p3v, "pv_v4"),
                                                                         (p3f, "pv_f4")))
        oacc = [Signal(signed(28), name=f"pv_o{n}") for n in range(d)]
        with m.If(p4v):
            m.d.sync += [o.eq(Mux(p4f, 0, o) + x) for o, x in zip(oacc, pvl, strict=True)]
        oprod = self.mul(m, 0, oacc, lanes(m_o, 32, d), "pv_m")
        out = [reg(m, saturate(round_shift(m, x, s[:SHIFT_BITS], f"pv_r{n}", bits=9), 8),
                   f"pv_out{n}", shape=signed(8))
               for n, (x, s) in enumerate(zip(oprod, lanes(s_o, 32, d, sign=False),
                                              strict=True))]
        with m.If((phase == PVW) & (wait == C.ATTN_PV_DRAIN - 1)):
            m.d.comb += [wr.addr.eq(ins.o_addr + joff + q), wr.data.eq(pack(out, 8)),
                         wr.en.eq(1)]

        with m.If(self.start):
            m.d.sync += [ins_word.eq(self.instr), self.busy.eq(1), phase.eq(SCAN),
                         scan_t.eq(0), bad_seen.eq(0), wait.eq(0)]
        return m
