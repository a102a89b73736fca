"""Accuracy of simulated outputs against the PyTorch FP32 model."""

from __future__ import annotations

import numpy as np


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    num = (a * b).sum(-1)
    den = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    return num / np.maximum(den, 1e-30)


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Sentence embeddings: mean over unmasked tokens, then L2 normalisation."""
    m = mask[..., None].astype(np.float64)
    e = (hidden * m).sum(1) / np.maximum(m.sum(1), 1.0)
    return e / np.maximum(np.linalg.norm(e, axis=-1, keepdims=True), 1e-30)


def layer_accuracy(name: str, sim: np.ndarray, ref: np.ndarray, mask: np.ndarray) -> dict:
    """Cosine (mean and min over valid tokens, and over the whole tensor) and max abs error."""
    keep = mask.astype(bool)
    a, b = sim[keep].astype(np.float64), ref[keep].astype(np.float64)
    tok = cosine_rows(a, b)
    return {
        "name": name,
        "cosine": float(cosine_rows(a.reshape(1, -1), b.reshape(1, -1))[0]),
        "token_cosine_mean": float(tok.mean()),
        "token_cosine_min": float(tok.min()),
        "max_abs_err": float(np.abs(a - b).max()),
    }


def neighbour_agreement(sim_emb: np.ndarray, ref_emb: np.ndarray) -> float:
    """Fraction of inputs whose nearest other input (by cosine) is the same for both."""
    n = len(sim_emb)
    if n < 3:
        return 1.0
    s, r = sim_emb @ sim_emb.T, ref_emb @ ref_emb.T
    np.fill_diagonal(s, -2)
    np.fill_diagonal(r, -2)
    return float((s.argmax(1) == r.argmax(1)).mean())
