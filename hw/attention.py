"""ATTN engine (docs/isa.md "ATTN"): four query rows in flight, DIM lanes.

Ports: the shared compute-side ports (two scratchpad reads: ``k_rd`` for Q and K, ``q_rd`` for
V; one scratchpad write: O; one accumulator read: parameters and the key mask) plus its own
block RAMs, each with one read and one write port, read like the SRAMs
(``hw.sram.staged_read_port``: data ``SRAM_READ_LATENCY`` cycles after the address): four score
banks (``max_seq x 33`` bits), the query row (``64 x 8*DIM``) and the key mask (``ceil(max_seq /
DIM) x DIM`` bits); :func:`buffer_shapes` lists them. The control of every read travels beside
it in as many registers. Schedule (``isa.cycles.attn_cycles``; tests/hw/test_attention.py
checks it cycle-exactly):

1. **Shift scan** (``attn_scan_cycles``): the header row (lane 0 ``m_s``, lane 1 ``s_s``), then
   every block's output-shift row, each row's shift compares registered
   (``ATTN_CHECK_STAGES``). The cycle after the last one arrives the engine raises ``checked``
   and decides BAD_FIELD (any shift outside ``[0, 62]``), else the late word checks (Q, K, V,
   O ranges: SRAM_RANGE); on an error ``done`` at once, nothing written.
2. **Mask**: the ``ceil(seq / DIM)`` mask rows, one bit per key (lane != 0) into the mask RAM.
3. **Slots** ``s = 0 .. seq + 2``; in slot ``s`` four stages run side by side, stage ``i`` on
   query row ``s - i`` (where it exists), and the slot ends when the longest of them has
   (``isa.cycles.attn_stage_cycles``):

   A. row ``s``, **QK^T**: read ``Q[s]`` (its ``hd_blocks`` blocks, into the query RAM), then
      for every key ``k`` and head block ``j`` ``K[k]`` with the query block and the key's mask
      bit; DIM products, adder tree, accumulate over the blocks, ``* m_s``,
      ``sat32(rshift_round(., s_s))``; write ``{valid, F}`` into score bank ``s mod 4`` and keep
      the row maximum of the valid scores.
   B. row ``s - 1``, **exp**: read each score of its bank: ``d = max(F - mx, -2^16)``, ``z =
      floor(-d / 2839)`` (23 comparators), ``r``, ``(r + 5542)^2 * 5874``, ``E``; write ``E``
      back, sum the row.
   R. row ``s - 2``, **reciprocal**: ``R = floor(2^32 / sum)`` by restoring division.
   C. row ``s - 3``, **PV**, per head block: read its ``m_o`` and ``s_o`` rows, then for every
      key ``V[k]`` and ``E[k]``: ``P = min(255, rshift_round(E * R, 24))``, ``P * V`` per lane,
      accumulate; ``sat8(rshift_round(O * m_o, s_o))`` written to ``O[s - 3]`` of the block.

   Each stage waits for its own pipeline to drain (``ATTN_*_DRAIN``) before the slot may end;
   a row's maximum, sum and reciprocal pass to the next stage at the slot's end, its scores stay
   in their bank. ``done`` comes in the cycle of the last write.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed
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
IDLE, SCAN, SCANW, MASK, RUN = range(5)
A_OFF, A_FILL, A_QK, A_DRAIN = range(4)  # every stage's OFF is 0 (_drain)
B_OFF, B_EXP, B_DRAIN = range(3)
R_OFF, R_INIT, R_DIV = range(3)
C_OFF, C_PARAM, C_PV, C_DRAIN = range(4)
QB = C.ATTN_RECIP_BITS
LN2, CLAMP = numerics.SOFTMAX_LN2, numerics.SOFTMAX_CLAMP
Z_MAX = CLAMP // LN2  # 23
#: Width of the score banks' entries: ``{valid, F}`` (F: sat32) or E.
SCORE_BITS = 33
#: Depth of the query RAM: every head block the 6-bit ``hd_blocks`` field admits.
Q_DEPTH = 64


def buffer_shapes(dim: int, max_seq: int) -> list[tuple[int, int]]:
    """(depth, width in bits) of each of the engine's own block RAMs: the four score banks,
    the query row, the key mask (encore/dse/area.py counts their blocks)."""
    return [(max_seq, SCORE_BITS)] * C.ATTN_BANKS + [(Q_DEPTH, 8 * dim),
                                                       (-(-max_seq // dim), dim)]


def _drain(m, count, cycles, state, end):
    """A stage's drain: ``cycles`` cycles counted in ``count``; in the last one ``end`` is high
    and the stage goes off (state 0) with its counter cleared."""
    m.d.sync += count.eq(count + 1)
    with m.If(count == cycles - 1):
        m.d.comb += end.eq(1)
        m.d.sync += [count.eq(0), state.eq(0)]


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
        lat = C.SRAM_READ_LATENCY
        ins_word = Signal.like(self.instr, name="ins")
        ins = self.view(OP, ins_word)
        seq, hb = ins.seq, ins.hd_blocks
        qrd, krd, ard, wr = self.q_rd, self.k_rd, self.acc_rd, self.sp_wr
        m.d.comb += [qrd.en.eq(1), krd.en.eq(1), ard.en.eq(1)]

        # -- the engine's own block RAMs ---------------------------------------------------------
        banks = []
        for i in range(C.ATTN_BANKS):
            m.submodules[f"bank{i}"] = mem = Memory(shape=SCORE_BITS, depth=self._max_seq,
                                                    init=[])
            bank_wr = mem.write_port()
            banks.append((staged_read_port(m, mem, f"bank{i}_rd"), bank_wr))
        m.submodules.qbuf = qmem = Memory(shape=8 * d, depth=Q_DEPTH, init=[])
        qbwr = qmem.write_port()
        qbrd = staged_read_port(m, qmem, "qbuf_rd")
        m.submodules.mask = mmem = Memory(shape=d, depth=-(-self._max_seq // d), init=[])
        mkwr = mmem.write_port()
        mkrd = staged_read_port(m, mmem, "mask_rd")
        m.d.comb += [qbrd.en.eq(1), mkrd.en.eq(1)] + [rd.en.eq(1) for rd, _ in banks]

        phase = Signal(range(5))
        nb = C.ATTN_BANKS
        assert nb == 4, "the bank indices below count mod 4 in two bits"
        slot = Signal(13)       # 0 .. seq + 2
        ba = Signal(range(nb))  # stage A's bank; B's is ba - 1, C's ba - 3 (mod 4)
        bb = Signal(range(nb))
        bc = Signal(range(nb))
        m.d.comb += [bb.eq(ba - 1), bc.eq(ba + 1)]  # two bits: mod 4
        # Per instruction, from the word at ``start``: the loop bounds less one (equality
        # compares with registers, no adder on the sequencers' paths) and the query fill.
        iv = self.view(OP, self.instr)
        seq_m1, hb_m1 = Signal(12), Signal(6)
        qfill_m1 = Signal(7)  # isa.cycles.attn_q_fill_cycles - 1
        nmask_m1 = Signal(12)  # isa.cycles.attn_mask_cycles - 1
        with m.If(self.start):
            m.d.sync += [seq_m1.eq(iv.seq - 1), hb_m1.eq(iv.hd_blocks - 1),
                         qfill_m1.eq(Mux(iv.hd_blocks > lat + 1, iv.hd_blocks, lat + 1) - 1),
                         nmask_m1.eq(((iv.seq + d - 1) >> lg) - 1)]
        # The engine's SRAM addresses, each a register stepped by a constant or by ``seq``.
        acc_a = Signal(18)    # ACC: shift scan, mask rows, PV parameters
        a_addr = Signal(18)   # SP k_rd: A's query fill, then K
        k_base = Signal(18)   # K row of A's key ka, block 0
        q_next = Signal(18)   # Q row of A's next row, block 0
        c_addr = Signal(18)   # SP q_rd: C's V reads
        v_base = Signal(18)   # V row 0 of C's block
        o_row = Signal(18)    # O row of C's row, block 0
        o_wr = Signal(18)     # O row of C's row in its block

        # -- sequencers ---------------------------------------------------------------------------
        scan_t = Signal(7)
        scan_v, scan_last = Signal(), Signal()
        mk_t = Signal(12)
        mk_v = Signal()
        # stage A: Q fill, QK^T reads, drain
        a_st = Signal(range(4))
        ka, ja = Signal(12), Signal(6)  # key, head block
        wa = Signal(range(max(C.ATTN_QK_DRAIN, 64 + lat + 1) + 1))
        qf_on = Signal()  # the query fill's reads (``wa < hd_blocks``)
        qk_v, qk_first, qk_last = Signal(), Signal(), Signal()
        a_end = Signal()
        m.d.comb += krd.addr.eq(a_addr)
        with m.Switch(a_st):
            with m.Case(A_FILL):
                m.d.sync += [wa.eq(wa + 1), ja.eq(ja + 1), a_addr.eq(a_addr + seq)]
                with m.If(ja == hb_m1):
                    m.d.sync += qf_on.eq(0)
                with m.If(wa == qfill_m1):
                    m.d.sync += [wa.eq(0), ja.eq(0), a_addr.eq(k_base), a_st.eq(A_QK)]
            with m.Case(A_QK):
                m.d.comb += [qbrd.addr.eq(ja), mkrd.addr.eq(ka >> lg), qk_v.eq(1),
                             qk_first.eq(ja == 0), qk_last.eq(ja == hb_m1)]
                m.d.sync += [ja.eq(ja + 1), a_addr.eq(a_addr + seq)]
                with m.If(ja == hb_m1):
                    m.d.sync += [ja.eq(0), ka.eq(ka + 1), a_addr.eq(k_base + 1),
                                 k_base.eq(k_base + 1)]
                    with m.If(ka == seq_m1):
                        m.d.sync += [ka.eq(0), a_st.eq(A_DRAIN)]
            with m.Case(A_DRAIN):
                _drain(m, wa, C.ATTN_QK_DRAIN, a_st, a_end)
        # stage B: exp reads, drain
        b_st = Signal(range(3))
        kb = Signal(12)
        wb = Signal(range(C.ATTN_EXP_DRAIN + 1))
        ex_v = Signal()
        b_end = Signal()
        b_raddr = Signal(12)
        with m.Switch(b_st):
            with m.Case(B_EXP):
                m.d.comb += [b_raddr.eq(kb), ex_v.eq(1)]
                m.d.sync += kb.eq(kb + 1)
                with m.If(kb == seq_m1):
                    m.d.sync += [kb.eq(0), b_st.eq(B_DRAIN)]
            with m.Case(B_DRAIN):
                _drain(m, wb, C.ATTN_EXP_DRAIN, b_st, b_end)
        # stage R: the reciprocal of the row sum B passed on
        r_st = Signal(range(3))
        r_end = Signal()
        rem, quo, den = Signal(29), Signal(QB), Signal(28)
        cnt = Signal(range(QB // C.ATTN_RECIP_STEP + 1))
        total, total_next = Signal(28), Signal(28)  # B's row sum; as it stands after this cycle
        sum_r = Signal(28)  # R's row sum
        recip_next = Signal(QB)  # R's reciprocal as it stands at the end of this cycle
        m.d.comb += recip_next.eq(Mux(den == 0, 0, quo))
        with m.Switch(r_st):
            with m.Case(R_INIT):
                m.d.sync += [rem.eq(1 << (numerics.RECIP_BITS - QB)), quo.eq(0), den.eq(sum_r),
                             cnt.eq(QB // C.ATTN_RECIP_STEP), r_st.eq(R_DIV)]
            with m.Case(R_DIV):
                rr, qq = rem, quo
                for _ in range(C.ATTN_RECIP_STEP):
                    rr, qq = _div_step(rr, qq, den)
                m.d.sync += [rem.eq(rr), quo.eq(qq), cnt.eq(cnt - 1)]
                m.d.comb += recip_next.eq(Mux(den == 0, 0, qq))
                with m.If(cnt == 1):
                    m.d.comb += r_end.eq(1)
                    m.d.sync += r_st.eq(R_OFF)
        # stage C: per head block its parameters, the V / E reads, drain and write
        c_st = Signal(range(4))
        kc, jc = Signal(12), Signal(6)
        wc = Signal(range(C.ATTN_PV_DRAIN + 1))
        pp_v, pp_s, pv_v, pv_first = Signal(), Signal(), Signal(), Signal()
        c_end, c_write = Signal(), Signal()
        c_raddr = Signal(12)
        m.d.comb += qrd.addr.eq(c_addr)
        with m.Switch(c_st):
            with m.Case(C_PARAM):
                m.d.comb += [pp_v.eq(1), pp_s.eq(wc[0])]
                m.d.sync += [wc.eq(wc + 1), acc_a.eq(acc_a + 1)]
                with m.If(wc == C.ATTN_PV_PARAM_READS - 1):
                    m.d.sync += [wc.eq(0), c_addr.eq(v_base), c_st.eq(C_PV)]
            with m.Case(C_PV):
                m.d.comb += [c_raddr.eq(kc), pv_v.eq(1), pv_first.eq(kc == 0)]
                m.d.sync += [kc.eq(kc + 1), c_addr.eq(c_addr + 1)]
                with m.If(kc == seq_m1):
                    m.d.sync += [kc.eq(0), c_st.eq(C_DRAIN)]
            with m.Case(C_DRAIN):
                m.d.sync += wc.eq(wc + 1)
                with m.If(wc == C.ATTN_PV_DRAIN - 1):
                    m.d.comb += c_write.eq(1)
                    m.d.sync += [wc.eq(0), jc.eq(jc + 1), v_base.eq(v_base + seq),
                                 o_wr.eq(o_wr + seq), c_st.eq(C_PARAM)]
                    with m.If(jc == hb_m1):
                        m.d.comb += c_end.eq(1)
                        m.d.sync += [jc.eq(0), c_st.eq(C_OFF)]

        # -- the slots: every stage of the slot ends, the next slot starts ----------------------
        # ``act``: the stages working in this slot (stage i on row slot - i); in the next slot
        # stage i works iff stage i - 1 does in this one, and A iff its row was not the last.
        act = Signal(C.ATTN_STAGES)
        slot_end = Signal()
        m.d.comb += slot_end.eq((phase == RUN) & ((a_st == A_OFF) | a_end)
                                & ((b_st == B_OFF) | b_end) & ((r_st == R_OFF) | r_end)
                                & ((c_st == C_OFF) | c_end))

        def start_slot(act_next, q_row):
            """Start the stages of the next slot (their ``act`` bits) in the next cycle, A on
            the row whose Q starts at ``q_row``."""
            m.d.sync += [act.eq(act_next),
                         a_st.eq(Mux(act_next[0], A_FILL, A_OFF)),
                         b_st.eq(Mux(act_next[1], B_EXP, B_OFF)),
                         r_st.eq(Mux(act_next[2], R_INIT, R_OFF)),
                         c_st.eq(Mux(act_next[3], C_PARAM, C_OFF)),
                         a_addr.eq(q_row), q_next.eq(q_row + 1), k_base.eq(ins.k_addr),
                         qf_on.eq(1), acc_a.eq(ins.param + 1), v_base.eq(ins.v_addr),
                         o_wr.eq(Mux(act[3], o_row + 1, o_row))]

        m.d.comb += ard.addr.eq(acc_a)
        with m.Switch(phase):
            with m.Case(SCAN):
                m.d.comb += [scan_v.eq(1), scan_last.eq(scan_t == hb)]
                m.d.sync += [scan_t.eq(scan_t + 1), acc_a.eq(acc_a + 2)]
                with m.If(scan_t == hb):
                    m.d.sync += [phase.eq(SCANW), acc_a.eq(acc_a + 1)]  # the first mask row
            with m.Case(MASK):
                m.d.comb += mk_v.eq(1)
                m.d.sync += [mk_t.eq(mk_t + 1), acc_a.eq(acc_a + 1)]
                with m.If(mk_t == nmask_m1):
                    m.d.sync += [phase.eq(RUN), slot.eq(0), ba.eq(0), o_row.eq(ins.o_addr)]
                    start_slot(Const(1, C.ATTN_STAGES), ins.q_addr)
                    m.d.sync += o_wr.eq(ins.o_addr)
            with m.Case(RUN):
                with m.If(slot_end):
                    nxt = Cat(act[0] & (slot != seq_m1), act[:-1])
                    m.d.sync += [slot.eq(slot + 1), ba.eq(ba + 1)]
                    with m.If(act[3]):
                        m.d.sync += o_row.eq(o_row + 1)
                    start_slot(nxt, q_next)
                    with m.If(act == 1 << (C.ATTN_STAGES - 1)):  # only PV of the last row
                        m.d.comb += self.done.eq(1)
                        m.d.sync += [self.busy.eq(0), phase.eq(IDLE)]

        # -- shift scan: data SRAM_READ_LATENCY cycles later ------------------------------------
        word = ard.data
        scan_q = delay(m, scan_v, lat, "scan_q")
        scan_last_q = delay(m, scan_last, lat, "scan_last_q")
        scan_hdr_q = delay(m, scan_v & (scan_t == 0), lat, "scan_hdr_q")
        m_s = Signal(signed(32))
        s_s = Signal(SHIFT_BITS)
        with m.If(scan_q & scan_hdr_q):
            m.d.sync += [m_s.eq(word[:32].as_signed()), s_s.eq(word[32:32 + SHIFT_BITS])]
        assert C.ATTN_CHECK_STAGES == 1, "one register: the row's compares"
        row_bad = reg(m, scan_q & Mux(scan_hdr_q, word[32:64] > numerics.MAX_SHIFT,
                                      shift_bad(word, d)), "scan_bad")
        scan_q, scan_last_q = reg(m, scan_q, "scan_q2"), reg(m, scan_last_q, "scan_last_q2")
        bad_seen = Signal()
        bad_now = bad_seen | row_bad
        late = self.late_error(m, OP, ins_word)
        with m.If(scan_q):
            m.d.sync += bad_seen.eq(bad_now)
            with m.If(scan_last_q):
                m.d.comb += self.checked.eq(1)
                err = Mux(bad_now, ErrorCode.BAD_FIELD, late)
                with m.If(err != ErrorCode.NONE):
                    m.d.comb += [self.error.eq(err), self.done.eq(1)]
                    m.d.sync += [self.busy.eq(0), phase.eq(IDLE)]
                with m.Else():
                    m.d.sync += phase.eq(MASK)

        # -- mask rows: one bit per key into the mask RAM ----------------------------------------
        mk_q, mk_tq = delay(m, mk_v, lat, "mk_q"), delay(m, mk_t, lat, "mk_tq")
        m.d.comb += [mkwr.addr.eq(mk_tq), mkwr.en.eq(mk_q),
                     mkwr.data.eq(Cat(*[ln != 0 for ln in lanes(word, 32, d)]))]

        # -- stage A: the query row into its RAM ------------------------------------------------
        qf_v = (a_st == A_FILL) & qf_on
        qf_q, qf_j = delay(m, qf_v, lat, "qf_q"), delay(m, ja, lat, "qf_j")
        m.d.comb += [qbwr.addr.eq(qf_j), qbwr.en.eq(qf_q), qbwr.data.eq(krd.data)]

        # -- stage A: QK^T pipeline: products, tree, accumulate, * m_s, round, write ------------
        v1 = delay(m, qk_v, lat, "qk_v1")
        f1 = delay(m, qk_first, lat, "qk_f1")
        l1 = delay(m, qk_last, lat, "qk_l1")
        k1 = delay(m, ka, lat, "qk_k1")
        lane_sel = Signal(range(d))
        m.d.comb += lane_sel.eq(k1[:lg] if lg else 0)
        msk = Signal()
        m.d.comb += msk.eq(mkrd.data.bit_select(lane_sel, 1))
        prods = self.mul(m, 3, lanes(qbrd.data, 8, d), lanes(krd.data, 8, d), "qk_p")
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
        mx, mx_next = Signal(signed(32)), Signal(signed(32))  # the row maximum, as A builds it
        any_valid = Signal()
        m.d.comb += mx_next.eq(mx)
        with m.If(v6 & m6):
            m.d.sync += any_valid.eq(1)
            with m.If(~any_valid | (fix > mx)):
                m.d.comb += mx_next.eq(fix)
        m.d.sync += mx.eq(mx_next)
        with m.If((a_st == A_FILL) & (wa == 0)):  # a new row
            m.d.sync += any_valid.eq(0)

        # -- stage B: exp pipeline -------------------------------------------------------------
        mx_b = Signal(signed(32))  # the maximum of B's row, passed on at the slot's end
        with m.If(slot_end):
            m.d.sync += mx_b.eq(mx_next)
        b_data = Signal(SCORE_BITS)
        c_data = Signal(SCORE_BITS)
        for i, (rd, _) in enumerate(banks):
            m.d.comb += rd.addr.eq(Mux(bb == i, b_raddr, c_raddr))
            with m.If(bb == i):
                m.d.comb += b_data.eq(rd.data)
            with m.If(bc == i):
                m.d.comb += c_data.eq(rd.data)
        # d = F - mx registered before its clamp (together they were the block's longest routed
        # path, 98.0 MHz: docs/rtl.md "FPGA")
        bval = reg(m, b_data[32], "ex_bval")
        diff = reg(m, b_data[:32].as_signed() - mx_b, "ex_diff", shape=signed(33))
        nd = reg(m, Mux(~bval | (diff >= 0), 0, Mux(diff < -CLAMP, CLAMP, -diff)), "ex_nd",
                 shape=17)
        e1v, e1k = delay(m, ex_v, lat + 1, "ex_v1"), delay(m, kb, lat + 1, "ex_k1")
        e2 = [reg(m, s, f"ex2_{i}") for i, s in enumerate((e1v, e1k, bval))]
        z = reg(m, tree_sum(nd >= LN2 * i for i in range(1, Z_MAX + 1)), "ex_z", shape=5)
        nd3 = reg(m, nd, "ex_nd3")
        e3 = [reg(m, s, f"ex3_{i}") for i, s in enumerate(e2)]
        # z * ln2 from a table, registered (the product by the constant and the subtractions in
        # one stage were the engine's longest routed path, 95.0 MHz: docs/rtl.md "FPGA")
        zl = reg(m, Array(Const(i * LN2, 17) for i in range(Z_MAX + 1))[z], "ex_zl", shape=17)
        nd3b = reg(m, nd3, "ex_nd3b")
        e3b = [reg(m, s, f"ex3b_{i}") for i, s in enumerate(e3)]
        z3b = reg(m, z, "ex_z3b")
        rb = reg(m, numerics.EXP_B - (nd3b - zl), "ex_rb", shape=signed(14))
        e4 = [reg(m, s, f"ex4_{i}") for i, s in enumerate(e3b)]
        z4 = reg(m, z3b, "ex_z4")
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
        m.d.comb += total_next.eq(Mux(e7v, total + e_out, total))
        m.d.sync += total.eq(Mux(slot_end, 0, total_next))
        with m.If(slot_end):
            m.d.sync += sum_r.eq(total_next)

        # bank writes: A's scores into bank ba, B's E into bank bb
        for i, (_, bwr) in enumerate(banks):
            with m.If((ba == i) & v6):
                m.d.comb += [bwr.addr.eq(k6), bwr.data.eq(Cat(fix, m6)), bwr.en.eq(1)]
            with m.Elif((bb == i) & e7v):
                m.d.comb += [bwr.addr.eq(e7k), bwr.data.eq(e_out), bwr.en.eq(1)]

        # -- stage C: PV pipeline --------------------------------------------------------------
        recip = Signal(QB)  # the reciprocal of C's row, passed on at the slot's end
        with m.If(slot_end):
            m.d.sync += recip.eq(recip_next)
        pp_q, pps_q = delay(m, pp_v, lat, "pp_q"), delay(m, pp_s, lat, "pps_q")
        m_o, s_o = Signal(32 * d), Signal(32 * d)
        with m.If(pp_q & ~pps_q):
            m.d.sync += m_o.eq(word)
        with m.If(pp_q & pps_q):
            m.d.sync += s_o.eq(word)
        p1v, p1f = delay(m, pv_v, lat, "pv_v1"), delay(m, pv_first, lat, "pv_f1")
        er = product(m, c_data[:17], recip, "pv_er")
        l_r = product_latency(c_data[:17], recip)
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
        with m.If(c_write):
            m.d.comb += [wr.addr.eq(o_wr), wr.data.eq(pack(out, 8)),
                         wr.en.eq(1)]

        with m.If(self.start):
            m.d.sync += [ins_word.eq(self.instr), self.busy.eq(1), phase.eq(SCAN),
                         scan_t.eq(0), bad_seen.eq(0), a_st.eq(A_OFF), b_st.eq(B_OFF),
                         r_st.eq(R_OFF), c_st.eq(C_OFF), wa.eq(0), wb.eq(0), wc.eq(0),
                         ka.eq(0), ja.eq(0), kb.eq(0), kc.eq(0), jc.eq(0), mk_t.eq(0),
                         acc_a.eq(iv.param), act.eq(0)]
        return m
