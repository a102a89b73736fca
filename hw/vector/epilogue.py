"""REQUANT, GELU and RESADD engines: one sequencer, one DIM-lane pipeline per opcode.

All three read a tile of ``blocks`` column blocks x ``rows`` rows from the accumulator (block
``j`` row ``i`` at ``src + j*rows + i``) with ``P`` parameter rows per block at ``param + P*j``
(isa.cycles.PARAM_ROWS), and write the result tile at ``dst`` (docs/isa.md). Schedule
(``isa.cycles.vector_cycles``; tests/hw/test_vector.py checks it cycle-exactly):

1. **Shift scan** (``isa.cycles.scan_cycles``: one read per shift row of every block): every
   shift lane must be in ``[0, MAX_SHIFT]``, a check on data the functional simulator makes
   before it writes anything. The cycle the last shift row arrives the engine raises
   ``checked`` (the dispatcher holds the next instruction until then) and decides the error:
   BAD_FIELD, else the late word checks (``late_checks``: the ``res`` / ``dst`` ranges), else
   none. On an error it raises ``done`` at once, having written nothing.
2. **Blocks**: per block ``P`` parameter-row reads, then ``rows`` source-row reads (RESADD also
   reads the ``res`` row from the scratchpad in the same cycle, and with ``res_wide`` its low
   plane on a second scratchpad port: ``res + rows*blocks``, summed during the scan).
   Parameter registers load as their rows arrive; a source row takes a copy of the ones it
   needs with it down the pipeline, so the next block's parameters never disturb rows still in
   flight.
3. **Pipeline** (``isa.cycles.VECTOR_PIPELINE``, SRAM latency included): the per-opcode stages
   of ``_datapath``, each one multiply, one wide shift or one add/saturate; ``done`` in the
   cycle of the last write.
"""

from __future__ import annotations

from amaranth.hdl import Array, Const, Module, Mux, Signal, signed

from isa import ErrorCode, Opcode, numerics
from isa import cycles as C

from ..engine import Engine, Port
from .common import (
    PLANE_BITS,
    SHIFT_BITS,
    delay,
    lanes,
    lanewise,
    out_plane,
    pack,
    reg,
    round_shift,
    rshift_round_const,
    saturate,
    shift_bad,
)

_KIND_NONE, _KIND_SCAN, _KIND_PARAM, _KIND_ROW = range(4)


class EpilogueEngine(Engine):
    """Base of the three; subclasses set ``OP``, ``PORTS``, ``DST`` and ``_datapath``."""

    OP: Opcode
    DST = Port.SP_WR
    DST_PORT = "sp_wr"

    @classmethod
    def static_checks(cls, op, word, cfg):
        v = cls.view_of(op, word)
        plane = [] if op == Opcode.RESADD else [(v.plane == 3, ErrorCode.BAD_FIELD)]
        return [((v.rows == 0) | (v.blocks == 0), ErrorCode.BAD_FIELD), *plane,
                (v.src + v.rows * v.blocks > cfg.acc_rows, ErrorCode.SRAM_RANGE),
                (v.param + C.PARAM_ROWS[op] * v.blocks > cfg.acc_rows, ErrorCode.SRAM_RANGE)]

    @classmethod
    def late_checks(cls, op, word, cfg):
        v = cls.view_of(op, word)
        n = v.rows * v.blocks
        if op == Opcode.RESADD:  # a wide residual: both planes, 2n rows
            return [(v.res + (n << v.res_wide) > cfg.sp_rows, ErrorCode.SRAM_RANGE),
                    (v.dst + n > cfg.acc_rows, ErrorCode.SRAM_RANGE)]
        return [(v.dst + n > cfg.sp_rows, ErrorCode.SRAM_RANGE)]

    def elaborate(self, platform):
        m = Module()
        d, op = self._dim, self.OP
        P = C.PARAM_ROWS[op]
        shifts = C.SHIFT_ROWS[op]
        ins_word = Signal.like(self.instr, name="ins")
        ins = self.view(op, ins_word)
        with m.If(self.start):
            m.d.sync += ins_word.eq(self.instr)

        # -- issue: one accumulator read per cycle --------------------------------------------
        scanning, running = Signal(), Signal()
        scan_blk = Signal(10)
        scan_k = Signal(range(len(shifts)))
        scan_base = Signal(32)            # param + P * scan_blk
        blk = Signal(10)
        t = Signal(17)                    # 0..P-1: parameter rows, P..P+rows-1: source rows
        par_addr = Signal(32)             # param + P*blk + t
        off = Signal(26)                  # j*rows + i of the next source row
        res_lo = Signal(32)               # RESADD: res + rows*blocks (summed during the scan)
        kind = Signal(2)
        pidx = Signal(range(P))
        last = Signal()
        rd = self.acc_rd
        m.d.comb += rd.en.eq(1)
        offsets = Array(Const(s, 3) for s in shifts)
        with m.If(scanning):
            scan_last = (scan_blk + 1 == ins.blocks) & (scan_k == len(shifts) - 1)
            m.d.comb += [rd.addr.eq(scan_base + offsets[scan_k]), kind.eq(_KIND_SCAN),
                         last.eq(scan_last)]
            m.d.sync += scan_k.eq(scan_k + 1)
            with m.If(scan_k == len(shifts) - 1):
                m.d.sync += [scan_k.eq(0), scan_blk.eq(scan_blk + 1),
                             scan_base.eq(scan_base + P), res_lo.eq(res_lo + ins.rows)]
            with m.If(scan_last):
                m.d.sync += [scanning.eq(0), running.eq(1)]
        with m.Elif(running):
            with m.If(t < P):
                m.d.comb += [rd.addr.eq(par_addr), kind.eq(_KIND_PARAM), pidx.eq(t)]
                m.d.sync += par_addr.eq(par_addr + 1)
            with m.Else():
                m.d.comb += [rd.addr.eq(ins.src + off), kind.eq(_KIND_ROW),
                             last.eq((blk + 1 == ins.blocks) & (t == ins.rows + P - 1))]
                m.d.sync += off.eq(off + 1)
                if op == Opcode.RESADD:  # the residual row (high plane) and its low plane
                    m.d.comb += [self.res_rd.addr.eq(ins.res + off), self.res_rd.en.eq(1),
                                 self.res_lo_rd.addr.eq(res_lo + off),
                                 self.res_lo_rd.en.eq(ins.res_wide)]
            m.d.sync += t.eq(t + 1)
            with m.If(t == ins.rows + P - 1):
                m.d.sync += [t.eq(0), blk.eq(blk + 1)]
                with m.If(blk + 1 == ins.blocks):
                    m.d.sync += running.eq(0)

        # -- the read data arrives SRAM_READ_LATENCY cycles later -----------------------------
        lat = C.SRAM_READ_LATENCY
        kind_q = delay(m, kind, lat, "kind_q")
        pidx_q = delay(m, pidx, lat, "pidx_q")
        last_q = delay(m, last, lat, "last_q")
        off_q = delay(m, off, lat, "off_q")
        word = rd.data

        bad_seen = Signal()
        bad_now = bad_seen | shift_bad(word, d)
        late = self.late_error(m, op, ins_word)
        with m.If(kind_q == _KIND_SCAN):
            m.d.sync += bad_seen.eq(bad_now)
            with m.If(last_q):
                m.d.comb += self.checked.eq(1)
                err = Mux(bad_now, ErrorCode.BAD_FIELD, late)
                with m.If(err != ErrorCode.NONE):  # nothing written: stop here
                    m.d.comb += [self.error.eq(err), self.done.eq(1)]
                    m.d.sync += [self.busy.eq(0), running.eq(0)]

        params = [Signal(32 * d, name=f"param{k}") for k in range(P)]
        for k in range(P):
            with m.If((kind_q == _KIND_PARAM) & (pidx_q == k)):
                m.d.sync += params[k].eq(word)
        res = (self.res_rd.data, self.res_lo_rd.data) if op == Opcode.RESADD else None
        out, depth = self._datapath(m, word, params, res, ins)
        assert depth + C.SRAM_READ_LATENCY == C.VECTOR_PIPELINE[op], (op, depth)

        valid = kind_q == _KIND_ROW
        last_w, off_w = last_q, off_q
        for k in range(depth):
            valid = reg(m, valid, f"valid_s{k}")
            last_w = reg(m, last_w, f"last_s{k}")
            off_w = reg(m, off_w, f"off_s{k}")
        wr = getattr(self, self.DST_PORT)
        m.d.comb += [wr.addr.eq(ins.dst + off_w), wr.data.eq(out), wr.en.eq(valid & self.busy)]
        with m.If(valid & last_w & self.busy):
            m.d.comb += self.done.eq(1)
            m.d.sync += self.busy.eq(0)

        start_ins = self.view(op)
        with m.If(self.start):
            m.d.sync += [
                self.busy.eq(1), scanning.eq(1), running.eq(0), scan_blk.eq(0), scan_k.eq(0),
                scan_base.eq(start_ins.param), blk.eq(0), t.eq(0),
                par_addr.eq(start_ins.param), off.eq(0), bad_seen.eq(0),
                res_lo.eq(start_ins.res if op == Opcode.RESADD else 0),
            ]
        return m

    def _datapath(self, m, word, params, res, ins):
        """(output row value, register stages after the read data arrives); ``ins`` the
        instruction's fields (held while busy)."""
        raise NotImplementedError


def _shift_lanes(word, d):
    return [v[:SHIFT_BITS] for v in lanes(word, 32, d, sign=False)]


class RequantEngine(EpilogueEngine):
    """REQUANT: ``sat8(rshift_round(sat32(x + bias) * m, s))`` (``numerics.requant8``).
    Stages: A ``sat32(x + bias)``; B ``* m``; C ``rshift_round``, the ``plane`` output
    (``sat8``, or a plane of the 16-bit result: ``common.out_plane``)."""

    OP = Opcode.REQUANT
    OPCODES = (Opcode.REQUANT,)
    PORTS = {"acc_rd": Port.ACC_RD, "sp_wr": Port.SP_WR}
    MULS = (0,)

    def _datapath(self, m, word, params, res, ins):
        d = self._dim
        bias, mult, shift = params
        x = lanes(word, 32, d)
        a = [reg(m, saturate(xi + bi, 32), f"a{n}") for n, (xi, bi)
             in enumerate(zip(x, lanes(bias, 32, d), strict=True))]
        mult_a, shift_a = reg(m, mult, "mult_a"), reg(m, shift, "shift_a")
        p = self.mul(m, 0, a, lanes(mult_a, 32, d), "p")
        shift_b = delay(m, shift_a, self.mul_cycles(0), "shift_b")
        out = [reg(m, out_plane(round_shift(m, pi, si, f"rq{n}", bits=PLANE_BITS), ins.plane),
                   f"o{n}")
               for n, (pi, si) in enumerate(zip(p, _shift_lanes(shift_b, d), strict=True))]
        return pack(out, 8), 1 + self.mul_cycles(0) + C.ROUND_CYCLES


class ResaddEngine(EpilogueEngine):
    """RESADD: ``sat32(requant(sat32(x + bias), m1, s1) + requant(r, m2, s2))``
    (``numerics.resadd``), ``r`` the int8 element of the ``res`` tile, or with ``res_wide``
    the 16-bit ``256*hi + lo``: the high plane on ``res_rd``, the low plane (``blocks*rows``
    rows further) on ``res_lo_rd``, a second scratchpad read port in the same cycle. Stages: A
    ``sat32(x + bias)``; B both products; C both ``rshift_round``; D add, ``sat32``."""

    OP = Opcode.RESADD
    OPCODES = (Opcode.RESADD,)
    PORTS = {"acc_rd": Port.ACC_RD, "res_rd": Port.SP_RD, "res_lo_rd": Port.SP_RD,
             "acc_wr": Port.ACC_WR}
    MULS = (0, 1)
    DST_PORT = "acc_wr"

    def _datapath(self, m, word, params, res, ins):
        d = self._dim
        bias, m1, s1, m2, s2 = params
        x = lanes(word, 32, d)
        # The residual: int8, or with res_wide the 16-bit 256*hi + lo of its two planes.
        r = [Mux(ins.res_wide, (hi << numerics.WIDE_SHIFT) + lo, hi)
             for hi, lo in zip(lanes(res[0], 8, d), lanes(res[1], 8, d), strict=True)]
        a = [reg(m, saturate(xi + bi, 32), f"a{n}") for n, (xi, bi)
             in enumerate(zip(x, lanes(bias, 32, d), strict=True))]
        r_a = [reg(m, ri, f"r{n}", shape=signed(17)) for n, ri in enumerate(r)]
        m1a, s1a, m2a, s2a = (reg(m, v, f"{nm}_a") for v, nm in
                              ((m1, "m1"), (s1, "s1"), (m2, "m2"), (s2, "s2")))
        p1 = self.mul(m, 0, a, lanes(m1a, 32, d), "p1_")
        p2 = self.mul(m, 1, r_a, lanes(m2a, 32, d), "p2_")
        assert self.mul_cycles(0) == self.mul_cycles(1)
        s1b, s2b = (delay(m, v, self.mul_cycles(0), nm) for v, nm in ((s1a, "s1_b"),
                                                                          (s2a, "s2_b")))
        # C: the two rounding shifts' first stages (hw.vector.common.round_shift; D is its
        # last, the add in it). |r * m2| <= 2^16 * 2^31, so the second term fits
        # RES_BITS signed bits exactly; the first is clamped to RES_BITS + 1 bits: beyond them
        # it outweighs the second by more than 2^31, and the sum saturates as it would exact.
        q1 = [round_shift(m, v, s, f"q1_{n}", bits=_RES_BITS + 1)
              for n, (v, s) in enumerate(zip(p1, _shift_lanes(s1b, d), strict=True))]
        q2 = [round_shift(m, v, s, f"q2_{n}", bits=_RES_BITS)
              for n, (v, s) in enumerate(zip(p2, _shift_lanes(s2b, d), strict=True))]
        # D: the rounding's last stage and the add; E: sat32 (the add and the saturation in one
        # stage were the engine's longest routed path, 97.5 MHz: docs/rtl.md "FPGA")
        total = lanewise(m, "t", lambda a1, a2: a1 + a2, q1, q2)
        out = lanewise(m, "o", lambda t: saturate(t, 32), total)
        return pack(out, 32), 2 + C.ROUND_CYCLES + self.mul_cycles(0)


#: Signed bits of RESADD's second term ``rshift_round(r * m2, s2)``: |r| <= 2^16 (a 16-bit
#: residual), |m2| <= 2^31, so |r * m2| <= 2^47 and the rounded value too (48 bits + sign).
_RES_BITS = 49


class GeluEngine(EpilogueEngine):
    """GELU: ``sat8(requant(gelu_fixed(sat32(requant(sat32(x + bias), m_in, s_in))), m_out,
    s_out))`` (``numerics.gelu8``). Stages: A ``sat32(x + bias)``; B ``* m_in``; C round,
    ``sat32``; D segment lookup; E ``t * c2`` and round; F ``t * inner`` and round, ``phi``;
    G ``x * phi``; H round by 15, ``* m_out``; I round by ``s_out``, the ``plane`` output."""

    OP = Opcode.GELU
    OPCODES = (Opcode.GELU,)
    PORTS = {"acc_rd": Port.ACC_RD, "sp_wr": Port.SP_WR}
    MULS = (0, 1, 2, 3, 4)

    def _datapath(self, m, word, params, res, ins):
        d = self._dim
        bias, m_in, s_in, m_out, s_out = params
        x = lanes(word, 32, d)
        a = [reg(m, saturate(xi + bi, 32), f"a{n}") for n, (xi, bi)
             in enumerate(zip(x, lanes(bias, 32, d), strict=True))]
        carry = {"m_in": m_in, "s_in": s_in, "m_out": m_out, "s_out": s_out}
        carry = {k: reg(m, v, f"{k}_a") for k, v in carry.items()}
        p = self.mul(m, 0, a, lanes(carry["m_in"], 32, d), "p")
        carry = {k: delay(m, v, self.mul_cycles(0), f"{k}_b") for k, v in carry.items()
                 if k != "m_in"}
        xf = [reg(m, saturate(round_shift(m, pi, si, f"xr{n}", bits=33), 32), f"xf{n}")
              for n, (pi, si) in enumerate(zip(p, _shift_lanes(carry["s_in"], d), strict=True))]
        carry = {k: delay(m, v, C.ROUND_CYCLES, f"{k}_c") for k, v in carry.items()
                 if k != "s_in"}
        coeffs = numerics.GELU_COEFFS
        c0t = Array(Const(c[0], signed(17)) for c in coeffs)
        c1t = Array(Const(c[1], signed(17)) for c in coeffs)
        c2t = Array(Const(c[2], signed(17)) for c in coeffs)
        # D0: |x| and whether it is beyond the segments; D: segment, coefficients (|x|, the
        # clamp and the table lookup in one stage were the engine's longest routed path, 89.6
        # MHz: docs/rtl.md "FPGA")
        x_d, big_d, t_d, c0_d, c1_d, c2_d = ([] for _ in range(6))
        lim = numerics.GELU_LIMIT
        for n, xv in enumerate(xf):
            x0 = reg(m, xv, f"x_d0{n}")
            ax = reg(m, Mux(xv < 0, -xv, xv), f"ax_d0{n}", shape=33)
            big = reg(m, (xv >= lim) | (xv <= -lim), f"big_d0{n}")
            v = Mux(big, lim - 1, ax)[:14]
            seg = v >> numerics.GELU_SEG_BITS
            x_d.append(reg(m, x0, f"x_d{n}"))
            big_d.append(reg(m, big, f"big_d{n}"))
            t_d.append(reg(m, v[:numerics.GELU_SEG_BITS], f"t_d{n}"))
            for tab, nm, col in ((c0t, "c0", c0_d), (c1t, "c1", c1_d), (c2t, "c2", c2_d)):
                col.append(reg(m, tab[seg], f"{nm}_d{n}"))

        def stage(cols, nm, cycles):
            return [[delay(m, v, cycles, f"{nm}{k}_{n}") for n, v in enumerate(col)]
                    for k, col in enumerate(cols)]

        # E: t * c2; then inner = c1 + rshift_round(t * c2, 12), in [0, 13153] for every
        # segment and t (isa.numerics.GELU_COEFFS), so 15 signed bits are exact.
        tc2 = self.mul(m, 3, t_d, c2_d, "tc2_")
        x_e, big_e, t_e, c0_e, c1_e = stage((x_d, big_d, t_d, c0_d, c1_d), "gel_e",
                                            self.mul_cycles(3))
        inner = [(c1 + rshift_round_const(p, numerics.GELU_FRAC))[:15].as_signed()
                 for c1, p in zip(c1_e, tc2, strict=True)]
        # F: t * inner; then e = c0 + rshift_round(t * inner, 12), phi = 2^14 + sign(x) * e,
        # in [0, 2^15]: 17 signed bits.
        ti = self.mul(m, 4, t_e, inner, "ti_")
        x_f, big_f, c0_f = stage((x_e, big_e, c0_e), "gel_f", self.mul_cycles(4))
        half = 1 << (numerics.GELU_E_FRAC - 1)
        phi = []
        for xv, big, c0, p in zip(x_f, big_f, c0_f, ti, strict=True):
            e = Mux(big, half, c0 + rshift_round_const(p, numerics.GELU_FRAC))
            phi.append(Mux(xv > 0, half + e, Mux(xv < 0, half - e, half))[:17].as_signed())
        # G: x * phi
        outs = self.mul(m, 2, x_f, phi, "g")
        carry = {k: delay(m, v, 2 + self.mul_cycles(3) + self.mul_cycles(4), f"{k}_def")
                 for k, v in carry.items()}
        carry = {k: delay(m, v, self.mul_cycles(2), f"{k}_g") for k, v in carry.items()}
        # H: gelu = rshift_round(g, 15); * m_out
        # H: gelu = rshift_round(x * phi, 15) lies in [-2^30, 2^31 - 1] (phi <= 2^15, and
        # phi <= 2^14 for x < 0): exact in 32 bits; * m_out
        gelu = [rshift_round_const(g, numerics.GELU_E_FRAC)[:32].as_signed() for g in outs]
        h = self.mul(m, 1, gelu, lanes(carry["m_out"], 32, d), "h")
        s_out_h = delay(m, carry["s_out"], self.mul_cycles(1), "s_out_h")
        out = [reg(m, out_plane(round_shift(m, hv, s, f"or{n}", bits=PLANE_BITS), ins.plane),
                   f"o{n}")
               for n, (hv, s) in enumerate(zip(h, _shift_lanes(s_out_h, d), strict=True))]
        return pack(out, 8), 3 + 2 * C.ROUND_CYCLES + sum(self.mul_cycles(k) for k in self.MULS)

