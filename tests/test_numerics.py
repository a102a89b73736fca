"""Integer kernels of isa/numerics.py against their float functions, with stated error bounds."""

import math

import numpy as np
import pytest
import torch

from isa import numerics as n


def test_rshift_round_is_round_half_up():
    v = np.array([5, 6, 7, -5, -6, -7, 0])
    assert n.rshift_round(v, 1).tolist() == [3, 3, 4, -2, -3, -3, 0]  # 2.5->3, -2.5->-2
    assert n.rshift_round(v, 0).tolist() == v.tolist()
    assert n.rshift_round(np.array([10, 10]), np.array([1, 2])).tolist() == [5, 3]


def test_requant8_saturates_and_rounds():
    m, s = n.quantize_multiplier(0.5)
    assert n.requant8(np.array([3, 1000, -1000]), 0, m, s).tolist() == [2, 127, -128]
    assert n.requant8(np.array([2**31 - 1]), 5, m, s).tolist() == [127]  # bias add saturates


@pytest.mark.parametrize("real", [1e-9, 3.7e-5, 0.0123, 0.5, 1.0, 7.25, 1234.5])
def test_quantize_multiplier_relative_error(real):
    m, s = n.quantize_multiplier(real)
    assert abs(int(m) * 2.0 ** -int(s) - real) / real < 2**-28


def _gelu(x):
    return 0.5 * x * (1 + torch.special.erf(torch.from_numpy(x / math.sqrt(2))).numpy())


def test_gelu_fixed_error_bound():
    x = np.arange(-(20 << 12), 20 << 12, 7)
    got = n.gelu_fixed(x) / 4096.0
    err = np.abs(got - _gelu(x / 4096.0))
    assert err.max() < 1e-3  # bound stated in docs/isa.md
    assert n.gelu_fixed(np.array([0])).tolist() == [0]


def test_exp_fixed_relative_error():
    d = np.arange(-(8 << 12), 1)
    got = n.exp_fixed(d) / 2.0**n.EXP_FRAC
    ref = np.exp(d / 4096.0)
    big = ref > 1e-2
    assert (np.abs(got - ref)[big] / ref[big]).max() < 5e-3  # I-BERT polynomial: ~0.2-0.4 %


def test_softmax_rows_close_to_float_and_masks():
    rng = np.random.default_rng(0)
    scores = rng.normal(0, 3, size=(64, 50))
    valid = rng.random((64, 50)) > 0.3
    valid[:, 0] = True
    p = n.softmax_rows(np.round(scores * 4096).astype(np.int64), valid) / 256.0
    ref = np.where(valid, np.exp(scores - np.where(valid, scores, -1e9).max(1, keepdims=True)), 0)
    ref /= ref.sum(1, keepdims=True)
    assert np.abs(p - ref).max() < 6e-3  # 1/256 quantization plus the exp polynomial
    assert np.all(p[~valid] == 0)
    assert n.softmax_rows(np.zeros((1, 4), np.int64), np.zeros((1, 4), bool)).tolist() == [[0] * 4]


def test_isqrt_exact():
    v = np.array([0, 1, 2, 3, 4, 15, 16, 17, 2**50 - 1, 2**50, (2**31 - 1) ** 2])
    r = n.isqrt(v)
    assert np.all(r * r <= v) and np.all((r + 1) * (r + 1) > v)
    with pytest.raises(ValueError, match="negative"):
        n.isqrt(np.array([-1]))


def test_layernorm8_close_to_float():
    rng = np.random.default_rng(1)
    h, pad = 200, 208
    x = rng.normal(0, 1, size=(32, h)) * 3e5
    x[:, 7] *= 12  # an outlier channel
    gamma, beta = rng.uniform(0.5, 1.5, h), rng.normal(0, 0.1, h)
    s_out = 0.05
    g_real = gamma / (s_out * 2**14)
    shift = 24
    g = np.zeros(pad, np.int64)
    b = np.zeros(pad, np.int64)
    g[:h], b[:h] = np.round(g_real * 2**shift), np.round(beta / s_out * 2**shift)
    xi = np.zeros((32, pad), np.int64)
    xi[:, :h] = np.round(x)
    out = n.layernorm8(xi, h, g, b, shift)
    mu, sd = x.mean(1, keepdims=True), x.std(1, keepdims=True)
    ref = np.clip(np.round(((x - mu) / sd * gamma + beta) / s_out), -128, 127)
    assert np.abs(out[:, :h] - ref).max() <= 1  # at most one int8 step
    assert np.all(out[:, h:] == 0)
