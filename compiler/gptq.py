"""Error-compensating rounding of int8 weights (GPTQ, Frantar et al. 2022).

Rounding every weight to its nearest int8 code independently ignores that the errors of
correlated input channels add up in ``X @ W``. GPTQ rounds the input channels one at a time and
moves each rounding error onto the channels not yet rounded, weighted by the inverse Hessian of
the layer's calibration inputs ``H = X^T X``; the result minimizes ``||X W - X W_q||`` far better
than nearest rounding at the same per-channel scales. The hardware is unchanged: this only
chooses different int8 codes.

All arrays are float64 here; ``X`` is the layer input in the space the weights are quantized in
(after the per-channel activation scales are migrated into the weights).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

#: Dampening added to H's diagonal, as a fraction of its mean diagonal (GPTQ's default).
DAMP = 0.01
#: Input channels rounded per block before the lazy update of the remaining ones.
BLOCK = 64
#: Round channels by descending Hessian diagonal (see ``Prepared``). Off: on all-MiniLM-L6-v2
#: it gave no gain with 64 calibration sentences and overfitted badly with 24
#: (benchmarks/quant_ablation.py).
ACT_ORDER = False


def hessian(x: np.ndarray) -> np.ndarray:
    """``X^T X`` of calibration inputs ``x`` [tokens, channels] (valid tokens only)."""
    x = np.asarray(x, dtype=np.float64)
    return x.T @ x


@dataclass(frozen=True)
class Prepared:
    """What GPTQ needs of one layer input, shared by every weight matrix that reads it: the
    rounding order (``perm``: channels by descending ``H`` diagonal, GPTQ's "act order", so the
    channels that matter most are rounded first while there is the most freedom left to
    compensate them) and the upper Cholesky factor of the dampened inverse Hessian in that order."""

    perm: np.ndarray
    factor: np.ndarray


def prepare(h: np.ndarray, damp: float = DAMP, act_order: bool = ACT_ORDER) -> Prepared:
    h = np.asarray(h, dtype=np.float64)
    diag = np.diag(h).copy()
    perm = np.argsort(-diag, kind="stable") if act_order else np.arange(len(diag))
    # U with U^T U = H^-1, U upper: if J H J = L L^T (J reverses the order), U = J L^-1 J.
    # One gather builds J P^T H P J (P the rounding order); the dampening goes on its diagonal.
    rev = perm[::-1]
    hr = h[np.ix_(rev, rev)]
    d = diag[rev]
    d[d <= 0] = 1.0  # dead channels: any code is as good as another
    np.fill_diagonal(hr, d + damp * float(d.mean()))
    lower = linalg.cholesky(hr, lower=True, overwrite_a=True, check_finite=False)
    inv, info = linalg.lapack.dtrtri(lower, lower=1, overwrite_c=1)
    if info:
        raise np.linalg.LinAlgError(f"triangular inverse failed (LAPACK info {info})")
    return Prepared(perm, np.ascontiguousarray(inv[::-1, ::-1]))


def round_weights(w: np.ndarray, scale: np.ndarray, prep: Prepared, *,
                  block: int = BLOCK, qmax: int = 127) -> np.ndarray:
    """int8 codes [out, in] for float weights ``w`` [out, in] at per-row ``scale`` [out].

    ``prep`` is ``prepare(H)`` for the layer input. Codes are clipped to [-qmax, qmax].
    """
    n_in = w.shape[1]
    factor = prep.factor
    if factor.shape != (n_in, n_in):
        raise ValueError(f"Hessian factor {factor.shape} does not match {n_in} input channels")
    # Work on W^T [in, out]: an input channel is then one contiguous row.
    wt = np.array(np.asarray(w, dtype=np.float64).T[prep.perm], order="C")
    s = np.asarray(scale, dtype=np.float64)[None, :]
    codes = np.zeros(wt.shape, dtype=np.int64)
    for b0 in range(0, n_in, block):
        b1 = min(n_in, b0 + block)
        wb = wt[b0:b1]  # a view: updates land in wt
        err = np.zeros_like(wb)
        for j in range(b1 - b0):
            q = np.clip(np.round(wb[j] / s[0]), -qmax, qmax)
            codes[b0 + j] = q
            e = (wb[j] - q * s[0]) / factor[b0 + j, b0 + j]
            if j + 1 < b1 - b0:
                wb[j + 1 :] -= np.multiply.outer(factor[b0 + j, b0 + j + 1 : b1], e)
            err[j] = e
        if b1 < n_in:
            wt[b1:] -= factor[b0:b1, b1:].T @ err
    out = np.empty_like(codes)
    out[prep.perm] = codes
    return np.ascontiguousarray(out.T)
