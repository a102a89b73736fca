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


def reference_run(model, ids: np.ndarray, mask: np.ndarray):
    """Run the PyTorch FP32 model on ``ids``: (its hidden states as float32 arrays, embeddings
    then every layer; the model's raw output, e.g. for the logits of a classifier)."""
    import torch

    with torch.no_grad():
        out = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask),
                    output_hidden_states=True)
    return [h.float().numpy() for h in out.hidden_states], out


def accuracy_section(layers: list[np.ndarray], refs: list[np.ndarray], mask: np.ndarray) -> dict:
    """The accuracy report of a run: every layer output (``embeddings``, ``layer0`` ...) against
    the reference, and the mean-pooled sentence embeddings of the last one."""
    names = ["embeddings"] + [f"layer{i}" for i in range(len(layers) - 1)]
    acc_layers = [layer_accuracy(n, s, r, mask)
                  for n, s, r in zip(names, layers, refs, strict=True)]
    sim_emb, ref_emb = mean_pool(layers[-1], mask), mean_pool(refs[-1], mask)
    emb_cos = (sim_emb * ref_emb).sum(-1)
    return {
        "embedding_cosine": [float(c) for c in emb_cos],
        "embedding_cosine_min": float(emb_cos.min()),
        "nearest_neighbour_agreement": neighbour_agreement(sim_emb, ref_emb),
        "final_hidden_cosine": acc_layers[-1]["cosine"],
        "layers": acc_layers,
    }
