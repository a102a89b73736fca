"""``hw.vector.common.round_shift`` (the pipelined rounding shift of the compute engines) is
bit-exact against ``isa.numerics``: ``rshift_round`` by every shift 0..MAX_SHIFT of 64-bit
values, then the saturations the engines apply (the output planes, int32, int8), including
values just inside and outside the clamp of the narrowed add."""

from __future__ import annotations

import random

from amaranth.hdl import Module, Signal, signed

from hw.vector.common import PLANE_BITS, out_plane, round_shift, saturate
from isa import numerics
from isa.cycles import ROUND_CYCLES

from .pipelined import run_cases


def _cases():
    rng = random.Random(9)
    out = []
    for s in range(numerics.MAX_SHIFT + 1):
        for k in (-2, -1, 0, 1, 2):  # around the clamp edges of every width used, shifted
            for edge in (1 << 15, 1 << 16, 1 << 31, 1 << 32, 1 << 7, 1 << 8,
                         numerics.WIDE_MAX, numerics.WIDE_MAX + 128, 127 * 256 - 128):
                for sign in (1, -1):
                    v = (sign * edge << s) + k * (1 << max(s - 1, 0))
                    out.append((max(min(v, (1 << 63) - 1), -(1 << 63)), s))
        for _ in range(12):
            out.append((rng.randrange(-(1 << 63), 1 << 63) >> rng.randrange(64), s))
    out += [((1 << 63) - 1, 0), (-(1 << 63), 0), ((1 << 63) - 1, 62), (-(1 << 63), 62)]
    return out


def test_round_shift_matches_numerics():
    m = Module()
    v, s = Signal(signed(64)), Signal(6)
    plane = Signal(2)
    outs = {
        "plane": (Signal(signed(8)), out_plane(round_shift(m, v, s, "a", bits=PLANE_BITS), plane)),
        "sat32": (Signal(signed(32)), saturate(round_shift(m, v, s, "b", bits=33), 32)),
        "sat8": (Signal(signed(8)), saturate(round_shift(m, v, s, "c", bits=9), 8)),
        "full": (Signal(signed(65)), round_shift(m, v, s, "d")),
    }
    for reg_, value in outs.values():
        m.d.sync += reg_.eq(value)
    cases = _cases()
    got = run_cases(m, (v, s, plane), [(vv, ss, n % 3) for n, (vv, ss) in enumerate(cases)],
                    ROUND_CYCLES, lambda ctx: {k: ctx.get(r) for k, (r, _) in outs.items()})
    assert len(got) == len(cases) > 2000
    for n, ((vv, ss), g) in enumerate(zip(cases, got, strict=True)):
        r = int(vv + (1 << (ss - 1))) >> ss if ss else vv  # numerics.rshift_round, exactly
        assert int(numerics.rshift_round(vv, ss)) == r or abs(vv) >= 1 << 62
        want = {"plane": int(numerics.out_plane(min(max(r, -(1 << 40)), 1 << 40), n % 3)),
                "sat32": max(min(r, (1 << 31) - 1), -(1 << 31)),
                "sat8": max(min(r, 127), -128), "full": r}
        assert g == want, (vv, ss, n % 3)


def test_resadd_sum_of_clamped_terms_saturates_exactly():
    """RESADD's D stage: ``sat32(q1 + q2)`` from the two clamped rounding shifts
    (hw/vector/epilogue.py ``_RES_BITS``), with ``|r * m2| <= 2^46``, at the extremes."""
    from hw.vector.epilogue import _RES_BITS

    rng = random.Random(3)
    big, small = (1 << 63) - 1, 1 << 46
    firsts = [big, -big - 1, (1 << 49) + 5, -(1 << 49) - 5, (1 << 49) - 1, -(1 << 49), 0, 1 << 31]
    seconds = [small, -small, 0, (1 << 31) - 1, -(1 << 31)]
    cases = [(a, sa, b, sb) for a in firsts for b in seconds for sa in (0, 1, 17) for sb in (0, 2)]
    cases += [(rng.randrange(-big, big), rng.randrange(63), rng.randrange(-small, small),
               rng.randrange(63)) for _ in range(300)]
    m = Module()
    v1, v2 = Signal(signed(64)), Signal(signed(64))
    s1, s2 = Signal(6), Signal(6)
    out = Signal(signed(32))
    m.d.sync += out.eq(saturate(round_shift(m, v1, s1, "q1", bits=_RES_BITS + 1)
                                + round_shift(m, v2, s2, "q2", bits=_RES_BITS), 32))
    got = run_cases(m, (v1, s1, v2, s2), cases, ROUND_CYCLES, lambda ctx: ctx.get(out))

    def rr(v, s):
        return (v + (1 << (s - 1))) >> s if s else v

    want = [max(min(rr(a, sa) + rr(b, sb), (1 << 31) - 1), -(1 << 31)) for a, sa, b, sb in cases]
    assert got == want
