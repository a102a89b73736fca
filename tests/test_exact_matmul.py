"""The functional simulator's exact integer matmul (float32 BLAS over K chunks) against int64,
at the extreme operand values where a float32 partial sum would first round."""

from __future__ import annotations

import numpy as np
import pytest

from isa import numerics
from sim.functional import _F32_EXACT, _exact_matmul

INT8_PROD = 1 << 14


@pytest.mark.parametrize("k", [16, _F32_EXACT // INT8_PROD, _F32_EXACT // INT8_PROD + 16, 3072])
def test_int8_products_exact_at_extremes(k):
    rng = np.random.default_rng(k)
    a = np.full((6, k), -128, dtype=np.int8)
    b = np.full((k, 40), -128, dtype=np.int8)
    a[1] = rng.integers(-128, 128, k)
    a[2, ::2] = 127
    b[:, 1] = 127
    b[:, 2] = rng.integers(-128, 128, k)
    a[3, k // 2] = 1
    b[k // 2, 3] = 1  # (a @ b)[3, 3] = (k - 1) * 2**14 + 1: odd, past 2**24 when k > 1025
    got = _exact_matmul(a, b, INT8_PROD)
    assert got.dtype == np.int64
    want = a.astype(np.int64) @ b.astype(np.int64)
    np.testing.assert_array_equal(got, want)
    if k > 1025:  # the case would catch one float32 product over the whole of K
        naive = (a.astype(np.float32) @ b.astype(np.float32)).astype(np.int64)
        assert naive[3, 3] != want[3, 3]


def test_attention_products_exact_at_extremes():
    seq = 512
    p = np.full((4, seq), numerics.PROB_MAX, dtype=np.int64)
    v = np.full((seq, 16), -128, dtype=np.int8)
    v[7, 0] = 127
    got = _exact_matmul(p, v, numerics.PROB_MAX * 128)
    np.testing.assert_array_equal(got, p @ v.astype(np.int64))
