"""Accuracy of quantization choices on all-MiniLM-L6-v2 (the measurements in
docs/architecture.md "Numerics").

Run: .venv/bin/python benchmarks/quant_ablation.py [--seq 24]
For each (alpha, ffn_alpha): min and mean sentence-embedding cosine against PyTorch FP32 over the
built-in sentences that fit --seq.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from compiler import compile_model, load_model
from encore.accuracy import mean_pool
from encore.host import run_functional, tokenize
from encore.inputs import DEFAULT_TEXTS
from isa import MachineConfig

SETTINGS = [(1.0, 1.0), (0.75, 0.75), (0.6, 0.6), (0.75, 0.5), (0.75, 0.25), (0.5, 0.5)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seq", type=int, default=24)
    args = ap.parse_args()
    lm = load_model("minilm-l6")
    texts = [t for t in DEFAULT_TEXTS if len(lm.tokenizer(t)["input_ids"]) <= args.seq]
    ids, mask = tokenize(lm.tokenizer, texts, args.seq)
    with torch.no_grad():
        ref = lm.model(input_ids=torch.from_numpy(ids),
                       attention_mask=torch.from_numpy(mask)).last_hidden_state.numpy()
    ref_e = mean_pool(ref, mask)
    print(f"{len(texts)} sentences, seq {args.seq}")
    print("| alpha (LayerNorm outputs) | alpha (GELU output) | min cosine | mean cosine |")
    print("|---|---|---|---|")
    for a, f in SETTINGS:
        cm = compile_model("minilm-l6", MachineConfig(), seq_len=args.seq, batch=len(texts),
                           loaded=lm, quant={"alpha": a, "ffn_alpha": f})
        _, _, layers = run_functional(cm.program, ids, mask)
        cos = (mean_pool(layers[-1], mask) * ref_e).sum(-1)
        print(f"| {a} | {f} | {cos.min():.4f} | {np.mean(cos):.4f} |")


if __name__ == "__main__":
    main()
