"""Integer arithmetic of the Encore datapath: the one definition of every rounding rule.

The functional simulator executes these functions; the compiler uses them to quantize; the RTL
tests use them as the reference. All functions take and return numpy int64 arrays (or Python
ints) and are exact: intermediate values provably fit in 64 bits for every input the
instruction set admits (bounds noted per function).

Conventions
-----------
* ``rshift_round(v, s)``: round to nearest, ties toward +infinity: ``(v + 2**(s-1)) >> s`` for
  ``s > 0``, ``v`` for ``s == 0``. Arithmetic (floor) shift. One rounding per requantization
  (unlike gemmlowp's two), which is cheaper in hardware and never less accurate.
* ``requant(x, m, s) = rshift_round(x * m, s)`` with ``x`` int32, ``m`` int32 (may be
  negative), ``0 <= s <= 62``; ``|x * m| < 2**62``.
* Saturation clamps to the two's-complement range of the destination width.
* Divisions of row statistics are floor divisions (toward -infinity).
"""

from __future__ import annotations

import math

import numpy as np

INT8_MIN, INT8_MAX = -128, 127
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
#: 16-bit ("wide") activations, stored as two int8 planes: hi = rshift_round(v, 8) must stay
#: <= 127, so the top is 127 * 256 + 127, not 2**15 - 1 (isa.opcodes.Plane).
WIDE_MIN, WIDE_MAX = -(1 << 15), 127 * 256 + 127
WIDE_SHIFT = 8  # a 16-bit value is hi * 2**WIDE_SHIFT + lo
MAX_SHIFT = 62

# ---- GELU (piecewise second-order polynomial of the normal CDF, fixed point) -------------------
#: GELU operates on fixed-point values with this many fractional bits.
GELU_FRAC = 12
#: GELU(x) = x * Phi(x), Phi(x) = 1/2 + sign(x) * E(|x|). E on [0, 4) is 16 quadratic segments of
#: width 1/4 (coefficients with 15 fraction bits, least-squares fits of Phi - 1/2); E = 1/2 past 4.
#: I-BERT's single erf polynomial jumps by 0.1 at 0 and costs ~0.5% cosine after the FFN;
#: this table is within 2e-5 of Phi everywhere and costs 16 x 3 constants.
GELU_SEG_BITS = 10  # segment width 2**10 / 2**12 = 1/4
GELU_LIMIT = 1 << 14  # |x| >= 4.0
GELU_E_FRAC = 15
GELU_COEFFS = (  # (c0, c1, c2) per segment: E = c0 + c1*t + c2*t**2, t in [0, 1/4)
    (0, 13153, -808), (3233, 12738, -2277), (6273, 11581, -3351), (8958, 9884, -3890),
    (11185, 7920, -3898), (12923, 5958, -3488), (14196, 4209, -2835), (15072, 2791, -2114),
    (15639, 1738, -1455), (15984, 1017, -928), (16181, 558, -550), (16287, 288, -303),
    (16340, 139, -156), (16365, 63, -75), (16376, 27, -34), (16381, 11, -14),
)
_GELU_C = np.array(GELU_COEFFS, dtype=np.int64)
#: The coefficient columns, with one more segment for |x| >= GELU_LIMIT: E = 2**14 there.
_GELU_C0, _GELU_C1, _GELU_C2 = (
    np.append(_GELU_C[:, i], [1 << (GELU_E_FRAC - 1), 0, 0][i]) for i in range(3))
assert len(GELU_COEFFS) == GELU_LIMIT >> GELU_SEG_BITS

# ---- softmax (I-BERT integer exp, fixed point) -------------------------------------------------
#: Attention scores are converted to fixed point with this many fractional bits before softmax.
SOFTMAX_FRAC = 12
#: Scores more than 16 below the row maximum contribute exp(-16) ~ 1e-7: clamp there.
SOFTMAX_CLAMP = 16 << SOFTMAX_FRAC
SOFTMAX_LN2 = round(math.log(2.0) * (1 << SOFTMAX_FRAC))  # 2839
#: exp(r) ~ a * (r + b)**2 + c on r in (-ln2, 0] (I-BERT), output with EXP_FRAC fraction bits.
EXP_FRAC = 15
EXP_A_BITS = 14
EXP_A = round(0.3585 * (1 << EXP_A_BITS))  # 5874
EXP_B = round(1.353 * (1 << SOFTMAX_FRAC))  # 5542
EXP_C = round(0.344 * (1 << EXP_FRAC))  # 11272
EXP_SHIFT = 2 * SOFTMAX_FRAC + EXP_A_BITS - EXP_FRAC  # 23
#: Softmax probabilities are unsigned 8-bit with scale 2**-PROB_FRAC (255 = 0.996).
PROB_FRAC = 8
PROB_MAX = 255
#: Reciprocal of the row sum: R = floor(2**RECIP_BITS / sum).
RECIP_BITS = 32

# ---- LayerNorm ---------------------------------------------------------------------------------
#: LayerNorm inputs are clamped to int24 so that the variance sum fits 64 bits.
LN_IN_BITS = 24
#: inv_std = floor(2**LN_INV_BITS / std); normalized n = rshift_round(d * inv_std, LN_NORM_SHIFT).
LN_INV_BITS = 30
LN_NORM_SHIFT = 16
#: So n carries LN_NORM_FRAC fractional bits: n ~ (x - mean) / std * 2**LN_NORM_FRAC.
LN_NORM_FRAC = LN_INV_BITS - LN_NORM_SHIFT  # 14


def _i64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def saturate(x, bits: int) -> np.ndarray:
    """Clamp to the signed ``bits``-bit range."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return np.clip(_i64(x), lo, hi)


def sat8(x) -> np.ndarray:
    return saturate(x, 8)


def sat32(x) -> np.ndarray:
    return saturate(x, 32)


def sat_wide(x) -> np.ndarray:
    """Clamp to the 16-bit activation range [WIDE_MIN, WIDE_MAX]."""
    return np.clip(_i64(x), WIDE_MIN, WIDE_MAX)


def split_planes(v) -> tuple[np.ndarray, np.ndarray]:
    """(hi, lo) int8 planes of 16-bit values in [WIDE_MIN, WIDE_MAX]: ``v = hi * 256 + lo``,
    ``hi = rshift_round(v, 8)``, ``lo`` in [-128, 127]."""
    v = _i64(v)
    hi = (v + (1 << (WIDE_SHIFT - 1))) >> WIDE_SHIFT
    return hi, v - (hi << WIDE_SHIFT)


def join_planes(hi, lo) -> np.ndarray:
    """The 16-bit values of a (hi, lo) plane pair: ``hi * 256 + lo``."""
    return (_i64(hi) << WIDE_SHIFT) + _i64(lo)


def out_plane(v, plane: int) -> np.ndarray:
    """What REQUANT / GELU / LAYERNORM write for an unsaturated result ``v``: plane 0 (INT8)
    ``sat8(v)``; plane 1 / 2 (HIGH / LOW) the high / low plane of ``sat_wide(v)``."""
    if plane == 0:
        return sat8(v)
    return split_planes(sat_wide(v))[plane - 1]


def rshift_round(v, s) -> np.ndarray:
    """Round-to-nearest (ties toward +inf) arithmetic right shift; ``s`` may be per element."""
    v = _i64(v)
    if np.ndim(s) == 0 and 0 <= s < 64:  # one shift for all: Python-int constants
        s = int(s)
        return (v + (1 << (s - 1))) >> s if s else v >> 0
    s = _i64(s)
    half = np.left_shift(np.int64(1), np.maximum(s - 1, 0)) * (s > 0)
    return np.right_shift(v + half, s)


def requant(x, m, s) -> np.ndarray:
    """``rshift_round(x * m, s)`` without saturation (x, m int32; result may exceed int32)."""
    return rshift_round(_i64(x) * _i64(m), s)


def bias_add(acc, bias) -> np.ndarray:
    """Accumulator plus int32 bias, saturated to int32 (the first step of every epilogue)."""
    return sat32(_i64(acc) + _i64(bias))


def requant8(acc, bias, m, s, plane: int = 0) -> np.ndarray:
    """REQUANT: int32 accumulator -> int8: ``sat8(requant(sat32(acc + bias), m, s))``
    (``plane``: :func:`out_plane` instead of ``sat8``)."""
    return out_plane(requant(bias_add(acc, bias), m, s), plane)


def gelu_fixed(x) -> np.ndarray:
    """Integer GELU on fixed point with GELU_FRAC fraction bits (input int32, output int32).

    ``v = min(|x|, 2**14 - 1)``, segment ``v >> 10``, ``t = v & 1023``;
    ``E = c0 + rshift_round(t * (c1 + rshift_round(t * c2, 12)), 12)`` (``E = 2**14`` for
    ``|x| >= 2**14``); ``gelu = rshift_round(x * (2**14 + sign(x) * E), 15)``.
    Max abs error vs the exact GELU: below 1e-3 plus the output rounding (tests/test_numerics.py).
    """
    x = _i64(x)
    # v = min(|x|, 2**14): |x| >= 2**14 lands on the extra segment (E = 2**14, t = 0), which
    # spares a masked select. One gather per coefficient column (gathering [.., 3] rows is
    # many times slower).
    v = np.minimum(np.abs(x), GELU_LIMIT)
    seg = v >> GELU_SEG_BITS
    t = v & ((1 << GELU_SEG_BITS) - 1)
    inner = _GELU_C1.take(seg) + rshift_round(t * _GELU_C2.take(seg), GELU_FRAC)
    e = _GELU_C0.take(seg) + rshift_round(t * inner, GELU_FRAC)
    phi = (1 << (GELU_E_FRAC - 1)) + np.sign(x) * e
    return rshift_round(x * phi, GELU_E_FRAC)


def gelu8(acc, bias, m_in, s_in, m_out, s_out, plane: int = 0) -> np.ndarray:
    """GELU epilogue: accumulator -> fixed point -> integer GELU -> int8 (``plane``: a plane
    of the 16-bit result, :func:`out_plane`)."""
    x = sat32(requant(bias_add(acc, bias), m_in, s_in))
    return out_plane(requant(gelu_fixed(x), m_out, s_out), plane)


def resadd(acc, bias, m1, s1, res, m2, s2) -> np.ndarray:
    """RESADD: ``sat32(requant(sat32(acc + bias), m1, s1) + requant(res, m2, s2))``; ``res`` is
    int8 or, with ``res_wide``, the 16-bit :func:`join_planes` of its two planes."""
    return sat32(requant(bias_add(acc, bias), m1, s1) + requant(res, m2, s2))


def isqrt(v) -> np.ndarray:
    """Floor square root of non-negative int64 values (exact)."""
    v = _i64(v)
    if np.any(v < 0):
        raise ValueError("isqrt of a negative value")
    r = np.floor(np.sqrt(v.astype(np.float64))).astype(np.int64)
    # float64 sqrt can be off by one for large v: correct both ways.
    r = np.where(r * r > v, r - 1, r)
    r = np.where((r + 1) * (r + 1) <= v, r + 1, r)
    return r


def layernorm8(x, n_valid: int, gamma, beta, shift, plane: int = 0) -> np.ndarray:
    """LAYERNORM on rows: ``x`` int [rows, width] (width >= n_valid), per-lane int32 ``gamma``
    and ``beta`` [width], output shift ``shift``; returns int8 [rows, width].

    mean = floor(sum / n); d = x - mean; var = floor(sum(d*d) / n); std = max(isqrt(var), 1);
    inv = floor(2**30 / std); n_i = sat32(rshift_round(d * inv, 16));
    out = sat8(rshift_round(n_i * gamma + beta, shift)) (``plane``: :func:`out_plane` instead
    of ``sat8``). Lanes past n_valid output
    sat8(rshift_round(beta, shift)) of their own lane (the compiler sets gamma = beta = 0 there).
    Bounds: |x| < 2**23 after the clamp, so sum(d*d) < 2**48 * n < 2**61.
    """
    x = saturate(x, LN_IN_BITS)
    xv = x[:, :n_valid]
    total = xv.sum(axis=1, keepdims=True)
    mean = np.floor_divide(total, n_valid)
    d = x - mean
    dv = d[:, :n_valid]
    var = np.floor_divide((dv * dv).sum(axis=1, keepdims=True), n_valid)
    std = np.maximum(isqrt(var), 1)
    inv = np.floor_divide(np.int64(1) << LN_INV_BITS, std)
    norm = sat32(rshift_round(d * inv, LN_NORM_SHIFT))
    norm[:, n_valid:] = 0
    return out_plane(rshift_round(norm * _i64(gamma) + _i64(beta), shift), plane)


def exp_fixed(d) -> np.ndarray:
    """Integer exp of d <= 0 (SOFTMAX_FRAC fraction bits); result has EXP_FRAC fraction bits."""
    d = np.maximum(_i64(d), -SOFTMAX_CLAMP)
    z = np.floor_divide(-d, SOFTMAX_LN2)
    r = d + z * SOFTMAX_LN2  # in (-ln2, 0]
    rb = r + EXP_B
    e = rshift_round(rb * rb * EXP_A, EXP_SHIFT) + EXP_C
    return np.right_shift(e, z)


def softmax_rows(scores, valid) -> np.ndarray:
    """Integer softmax over the last axis.

    ``scores``: int [..., keys] fixed point (SOFTMAX_FRAC); ``valid``: bool [..., keys] or
    broadcastable (masked keys get probability 0). Returns uint8-valued int64 probabilities with
    scale 2**-PROB_FRAC: ``min(255, rshift_round(E_j * floor(2**32 / sum E), 24))``.
    A row with no valid key gives all zeros.
    """
    s = _i64(scores)
    valid = np.broadcast_to(np.asarray(valid, dtype=bool), s.shape)
    neg = np.iinfo(np.int64).min // 4
    row_max = np.where(valid, s, neg).max(axis=-1, keepdims=True)
    e = np.where(valid, exp_fixed(np.minimum(s - row_max, 0)), 0)
    total = e.sum(axis=-1, keepdims=True)
    recip = np.where(total > 0, np.floor_divide(np.int64(1) << RECIP_BITS, np.maximum(total, 1)), 0)
    p = rshift_round(e * recip, RECIP_BITS - PROB_FRAC)
    return np.minimum(p, PROB_MAX)


# ---- choosing fixed-point multipliers (compiler side) --------------------------------------------
def quantize_multiplier(real, max_bits: int = 31) -> tuple[np.ndarray, np.ndarray]:
    """Best (m, s) with ``m * 2**-s ~= real``, ``|m| < 2**(max_bits-1)``... per element.

    Returns int64 arrays (m, s) with 0 <= s <= MAX_SHIFT. ``real == 0`` gives (0, 0).
    The relative error is below 2**-(max_bits-2) unless the shift range is exhausted.
    """
    real = np.asarray(real, dtype=np.float64)
    if not np.all(np.isfinite(real)):
        raise ValueError("quantize_multiplier: non-finite scale")
    mag = np.abs(real)
    limit = float(1 << (max_bits - 1)) - 1.0
    with np.errstate(divide="ignore"):
        exp = np.where(mag > 0, np.floor(np.log2(np.where(mag > 0, mag, 1.0))), 0.0)
    s = (max_bits - 2) - exp  # puts |m| in [2**(max_bits-2), 2**(max_bits-1))
    s = np.clip(s, 0, MAX_SHIFT).astype(np.int64)
    m = np.round(real * np.exp2(s.astype(np.float64)))
    m = np.clip(m, -limit, limit).astype(np.int64)
    m = np.where(mag > 0, m, 0)
    s = np.where(mag > 0, s, 0)
    return m, s
