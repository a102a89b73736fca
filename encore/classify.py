"""Classification results of a task head next to PyTorch's: labels, probabilities, agreement."""

from __future__ import annotations

import numpy as np

from .accuracy import cosine_rows


def probabilities(logits: np.ndarray, problem_type: str | None) -> np.ndarray:
    """Softmax over labels (sigmoid per label for multi-label heads; regression: the logits)."""
    z = np.asarray(logits, dtype=np.float64)
    if problem_type == "multi_label_classification":
        return 1.0 / (1.0 + np.exp(-z))
    if problem_type == "regression" or z.shape[-1] == 1:
        return z
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def compare_logits(sim: np.ndarray, ref: np.ndarray, head: dict) -> dict:
    """Per input predicted label and probability (Encore and PyTorch), agreement, cosines."""
    labels = head["labels"]
    ps, pr = probabilities(sim, head["problem_type"]), probabilities(ref, head["problem_type"])
    ks, kr = ps.argmax(-1), pr.argmax(-1)
    cos = cosine_rows(sim, ref)
    rows = [{"label": labels[a], "prob": float(ps[i, a]), "torch_label": labels[b],
             "torch_prob": float(pr[i, b]), "logits_cosine": float(cos[i])}
            for i, (a, b) in enumerate(zip(ks, kr, strict=True))]
    return {
        "head": head["arch"], "activation_on": "host", "labels": labels,
        "per_input": rows, "agreement": float((ks == kr).mean()),
        "logits_cosine": float(cosine_rows(sim.reshape(1, -1), ref.reshape(1, -1))[0]),
        "logits_cosine_min": float(cos.min()),
        "logits": sim.tolist(), "torch_logits": ref.tolist(),
    }


def format_classification(c: dict, texts: list | None) -> str:
    lines = [f"Classification ({c['head']}; tanh/ReLU on the host): agreement with PyTorch "
             f"{c['agreement'] * 100:.1f}%, logits cosine {c['logits_cosine']:.5f} "
             f"(min {c['logits_cosine_min']:.5f})",
             f"  {'#':>3}  {'Encore':<24} {'PyTorch':<24} text"]
    for i, r in enumerate(c["per_input"]):
        text = (texts[i] if texts else None) or "<random ids>"
        lines.append(f"  {i:>3}  {r['label'][:14]:<14} {r['prob']:.3f}    "
                     f"{r['torch_label'][:14]:<14} {r['torch_prob']:.3f}    {text[:50]}")
    return "\n".join(lines)
