"""Accuracy of quantization choices on all-MiniLM-L6-v2 (the measurements in
docs/architecture.md "Numerics").

Run: .venv/bin/python benchmarks/quant_ablation.py [--json results/quant_ablation.json]
For each setting (options of compiler.quantize.quantize): min and mean sentence-embedding cosine
against PyTorch FP32 over the 16 built-in inputs of `encore run` (batch 16, padded to the
longest; the results do not depend on the batch or its padding). The calibration sentences
(compiler/calibration.py) are disjoint from these inputs. The quantized-model cache is bypassed
so that every row measures its own calibration and GPTQ time.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from compiler import compile_model, load_model
from encore.accuracy import mean_pool
from encore.host import run_functional, tokenize
from encore.inputs import DEFAULT_TEXTS
from isa import MachineConfig

DEFAULT = {"alpha": 0.75, "ffn_alpha": 0.75, "ctx_alpha": 0.5, "use_gptq": True, "act_order": False}
SETTINGS = [
    ("default", {}),
    ("nearest rounding (no GPTQ)", {"use_gptq": False}),
    ("nearest rounding, GELU output alpha 0.5", {"use_gptq": False, "ffn_alpha": 0.5}),
    ("GPTQ act order", {"act_order": True}),
    ("alpha 1 everywhere", {"alpha": 1.0, "ffn_alpha": 1.0, "ctx_alpha": 1.0}),
    ("alpha 0.5 everywhere", {"alpha": 0.5, "ffn_alpha": 0.5, "ctx_alpha": 0.5}),
    ("LayerNorm outputs alpha 0.9", {"alpha": 0.9}),
    ("LayerNorm outputs alpha 1", {"alpha": 1.0}),
    ("GELU output alpha 0.5", {"ffn_alpha": 0.5}),
    ("GELU output alpha 1", {"ffn_alpha": 1.0}),
    ("attention output alpha 0.75", {"ctx_alpha": 0.75}),
    ("attention output alpha 0 (one scale)", {"ctx_alpha": 0.0}),
]


def fp32_reference(lm, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, mask) padded to the longest text, and PyTorch FP32's sentence embeddings."""
    seq = max(len(lm.tokenizer(t)["input_ids"]) for t in texts)
    ids, mask = tokenize(lm.tokenizer, texts, seq)
    with torch.no_grad():
        ref = lm.model(input_ids=torch.from_numpy(ids),
                       attention_mask=torch.from_numpy(mask)).last_hidden_state.numpy()
    return ids, mask, mean_pool(ref, mask)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, default=None, help="also write the table as JSON")
    args = ap.parse_args()
    lm = load_model("minilm-l6")
    texts = list(DEFAULT_TEXTS)
    ids, mask, ref_e = fp32_reference(lm, texts)
    seq = ids.shape[1]
    print(f"{len(texts)} inputs, seq {seq}; default options {DEFAULT}")
    print("| setting | min cosine | mean cosine | compile s |")
    print("|---|---|---|---|")
    rows = []
    for name, opts in SETTINGS:
        t = time.perf_counter()
        cm = compile_model("minilm-l6", MachineConfig(), seq_len=seq, batch=len(texts),
                           loaded=lm, quant=opts, cache=False)
        wall = time.perf_counter() - t
        _, _, layers = run_functional(cm.program, ids, mask)
        cos = (mean_pool(layers[-1], mask) * ref_e).sum(-1)
        rows.append({"setting": name, "options": {**DEFAULT, **opts}, "min": float(cos.min()),
                     "mean": float(np.mean(cos)), "per_input": cos.tolist(), "compile_s": wall})
        print(f"| {name} | {cos.min():.4f} | {np.mean(cos):.4f} | {wall:.1f} |", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"seq": seq, "inputs": len(texts), "rows": rows},
                                        indent=1))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
