"""Arithmetic building blocks of the vector engines, as isa/numerics.py defines them.

Each helper returns a combinational value; the engines register between them so that no stage
holds more than one multiply or one wide variable shift (docs/rtl.md, "Vector engines").
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Mux, Signal, signed

from isa import Plane, numerics
from isa.cycles import ROUND_CYCLES

#: Bits of a shift parameter once checked to be in [0, MAX_SHIFT].
SHIFT_BITS = numerics.MAX_SHIFT.bit_length()


def lanes(word, bits: int, n: int, *, sign: bool = True) -> list:
    """The ``n`` lanes of ``bits`` bits of ``word`` (signed unless ``sign`` is False)."""
    out = [word[bits * i: bits * (i + 1)] for i in range(n)]
    return [v.as_signed() for v in out] if sign else out


def pack(values, bits: int):
    """Concatenate lanes, each truncated to ``bits`` bits."""
    return Cat(*[v.as_unsigned()[:bits] if hasattr(v, "as_unsigned") else v for v in values])


def saturate(v, bits: int):
    """Clamp the signed value ``v`` to the signed ``bits``-bit range (``numerics.saturate``).
    A signed ``v`` fits when its bits from ``bits - 1`` up are all equal (its sign): a
    reduction of those bits, not two comparators as wide as ``v`` behind its adder (Fmax)."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    shape = v.shape()
    if not shape.signed:
        return Mux(v > hi, Const(hi, signed(bits)), v[:bits].as_signed())
    if shape.width <= bits:  # fits: sign-extended to ``bits``
        return Cat(v, v[-1].replicate(bits - shape.width)).as_signed()
    top = v[bits - 1:]
    return Mux(~top.any() | top.all(), v[:bits].as_signed(),
               Mux(v[-1], Const(lo, signed(bits)), Const(hi, signed(bits))))


def out_plane(v, plane):
    """``numerics.out_plane`` of the signed value ``v``: the int8 ``plane`` (a 2-bit value, 3
    rejected before the engine starts) of the result. INT8: ``sat8(v)``; HIGH / LOW: with
    ``w = sat_wide(v)`` (16 bits), ``hi = (w + 128) >> 8`` and ``lo = w - 256*hi``, which is
    ``w``'s low byte read as signed (``lo = w mod 256`` and lies in [-128, 127]). The wide
    clamp compares ``v`` with two constants beside ``sat8``'s; the rounding add is made on
    ``v`` itself, beside the compares (not behind them), and a clamped ``w`` selects the
    planes of ``WIDE_MIN`` / ``WIDE_MAX`` instead: no adder behind a comparator."""
    over, under = v > numerics.WIDE_MAX, v < numerics.WIDE_MIN
    half = 1 << (numerics.WIDE_SHIFT - 1)

    def planes(w: int):
        h = (w + half) >> numerics.WIDE_SHIFT
        return Const(h, signed(8)), Const(w - (h << numerics.WIDE_SHIFT), signed(8))

    (hi_max, lo_max), (hi_min, lo_min) = planes(numerics.WIDE_MAX), planes(numerics.WIDE_MIN)
    hi = Mux(over, hi_max, Mux(under, hi_min, rshift_round_const(v, numerics.WIDE_SHIFT)[:8]
                               .as_signed()))
    lo = Mux(over, lo_max, Mux(under, lo_min, v[:8].as_signed()))
    return Mux(plane == Plane.HIGH, hi, Mux(plane == Plane.LOW, lo, saturate(v, 8)))


def saturate_to(v, lo: int, hi: int, bits: int):
    """Clamp the signed value ``v`` to ``[lo, hi]``, a range of the signed ``bits`` bits."""
    return Mux(v > hi, Const(hi, signed(bits)),
               Mux(v < lo, Const(lo, signed(bits)), v[:bits].as_signed()))


def rshift_round(v, s):
    """``numerics.rshift_round`` of signed ``v`` by the unsigned value ``s`` (0..MAX_SHIFT):
    ``((v >> (s - 1)) + 1) >> 1`` for ``s > 0`` (floor shifts; no wide constant adder)."""
    q = v >> (s - 1)[:SHIFT_BITS]
    return Mux(s == 0, v, (q + 1) >> 1)


def round_shift(m, v, s, name: str, *, bits: int | None = None):
    """``numerics.rshift_round`` of signed ``v`` by the unsigned value ``s`` (0..MAX_SHIFT),
    pipelined (``isa.cycles.ROUND_CYCLES``): (1) registers ``v >> (8 * (s >> 3))`` (an
    arithmetic shift by a multiple of 8: one 8-to-1 select per bit), the bit just below it and
    ``s mod 8``; (2) registers ``h = v >> s`` from it and the rounding bit ``c = v[s - 1]`` (0
    for ``s = 0``; ``rshift_round = h + c``), and returns the value of the last stage for the
    caller to register with what it does next (a saturation, the output plane). With ``bits``,
    the second stage registers instead ``h + c`` on ``h``'s low ``bits`` bits and whether ``h``
    fits the signed ``bits`` range; the last selects it, or the range end on ``h``'s side:
    exact for any saturation to at most ``bits - 1`` signed bits afterwards (an ``h`` that does
    not fit lies beyond that range, and so does ``h + c``)."""
    assert ROUND_CYCLES == 3, "two register stages here, the caller's after them"
    sh = s[:SHIFT_BITS]
    coarse = Cat(Const(0, 3), sh[3:])  # 8 * (s >> 3)
    v1 = reg(m, v >> coarse, f"{name}_v1", shape=signed(len(v)))
    b1 = reg(m, Mux(sh[3:] == 0, 0, v.bit_select((coarse - 1)[:SHIFT_BITS], 1)), f"{name}_b1")
    lo = reg(m, sh[:3], f"{name}_lo")
    hv = v1 >> lo
    cv = Mux(lo == 0, b1, v1.bit_select((lo - 1)[:3], 1))
    if bits is None or bits >= len(v):
        return reg(m, hv, f"{name}_h", shape=signed(len(v))) + reg(m, cv, f"{name}_c", shape=1)
    top = hv[bits - 1:]
    fits = reg(m, ~top.any() | top.all(), f"{name}_fits")
    neg = reg(m, v1[-1], f"{name}_neg")
    hc = reg(m, hv[:bits].as_signed() + cv, f"{name}_hc", shape=signed(bits + 1))
    lo_end, hi_end = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return Mux(fits, hc, Mux(neg, Const(lo_end, signed(bits + 1)),
                             Const(hi_end, signed(bits + 1))))


#: ``round_shift``'s ``bits`` for ``out_plane`` (it saturates to at most 16 signed bits).
PLANE_BITS = 17


def rshift_round_const(v, s: int):
    """``numerics.rshift_round`` by a constant ``s``."""
    return v if s == 0 else (v + (1 << (s - 1))) >> s


def tree_sum(values):
    """The sum of ``values`` as a balanced tree of adds (``ceil(log2 n)`` carry chains in
    series, where Python's ``sum`` chains ``n - 1``); exact, as wide as Amaranth's adds make it."""
    values = list(values)
    while len(values) > 1:
        values = [values[i] + values[i + 1] if i + 1 < len(values) else values[i]
                  for i in range(0, len(values), 2)]
    return values[0]


def shift_bad(word, n: int):
    """Some 32-bit lane of ``word`` is outside [0, MAX_SHIFT] (negative lanes are large
    unsigned values)."""
    return Cat(*[lane > numerics.MAX_SHIFT for lane in lanes(word, 32, n, sign=False)]).any()


def reg(m, value, name: str, *, shape=None):
    """A register loaded with ``value`` every cycle (one pipeline stage)."""
    sig = Signal(value.shape() if shape is None else shape, name=name)
    m.d.sync += sig.eq(value)
    return sig


def delay(m, value, n: int, name: str):
    """``value`` delayed by ``n`` registers."""
    for k in range(n):
        value = reg(m, value, f"{name}_d{k}")
    return value


def lanewise(m, name: str, fn, *columns, shape=None) -> list:
    """One pipeline stage over the lanes: register ``fn(*lane_args)`` for every lane."""
    return [reg(m, fn(*args), f"{name}{n}", shape=shape)
            for n, args in enumerate(zip(*columns, strict=True))]
