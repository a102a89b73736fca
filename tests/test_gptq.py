"""GPTQ weight rounding (compiler/gptq.py): valid codes, exactly nearest rounding when the inputs
are uncorrelated, and a clearly smaller output error than nearest rounding when they are not."""

from __future__ import annotations

import numpy as np
import pytest

from compiler import gptq


def _problem(seed: int = 0, tokens: int = 600, n_in: int = 96, n_out: int = 40):
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(n_in, n_in)) / np.sqrt(n_in)
    x = rng.normal(size=(tokens, n_in)) @ (np.eye(n_in) + 2.0 * mix)  # correlated channels
    w = rng.normal(size=(n_out, n_in))
    scale = np.abs(w).max(axis=1) / 127
    return x, w, scale


def _nearest(w, scale):
    return np.clip(np.round(w / scale[:, None]), -127, 127).astype(np.int64)


@pytest.mark.parametrize("act_order", [False, True])
def test_gptq_beats_nearest_rounding(act_order):
    x, w, scale = _problem()
    codes = gptq.round_weights(w, scale, gptq.prepare(gptq.hessian(x), act_order=act_order),
                               block=32)
    assert codes.dtype == np.int64 and np.abs(codes).max() <= 127
    err_g = np.linalg.norm(x @ (codes * scale[:, None]).T - x @ w.T)
    err_n = np.linalg.norm(x @ (_nearest(w, scale) * scale[:, None]).T - x @ w.T)
    # Measured ratio 0.67-0.71 over seeds 0-3 (both orders); nearest rounding is 1 by
    # definition, and 0.8 still fails any implementation that moves no error.
    assert err_g < 0.8 * err_n, (err_g, err_n)


def test_gptq_is_nearest_rounding_for_uncorrelated_inputs():
    _, w, scale = _problem(1)
    h = np.diag(np.linspace(1.0, 5.0, w.shape[1]))  # diagonal Hessian: no error to move
    for act_order in (False, True):  # the permutation must be undone exactly
        codes = gptq.round_weights(w, scale, gptq.prepare(h, act_order=act_order))
        np.testing.assert_array_equal(codes, _nearest(w, scale))


def test_gptq_dead_channels_and_shape_error():
    x, w, scale = _problem(2, n_in=16, n_out=4)
    x[:, 3] = 0.0  # a channel that is never active
    codes = gptq.round_weights(w, scale, gptq.prepare(gptq.hessian(x)))
    assert np.abs(codes).max() <= 127
    with pytest.raises(ValueError, match=r"Hessian factor \(16, 16\) does not match 8 input"):
        gptq.round_weights(w[:, :8], scale, gptq.prepare(gptq.hessian(x)))


def test_inverse_factor():
    x, _, _ = _problem(3, n_in=40)
    h = gptq.hessian(x)
    u = gptq.prepare(h, damp=0.0).factor
    assert np.allclose(np.triu(u), u)
    np.testing.assert_allclose(u.T @ u, np.linalg.inv(h), rtol=1e-8, atol=1e-12)
