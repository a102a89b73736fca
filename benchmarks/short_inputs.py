"""Where short inputs lose accuracy: per-sublayer error of the integer program against the float
graph on all-MiniLM-L6-v2 (the measurement behind docs/architecture.md "Short inputs").

Run: .venv/bin/python benchmarks/short_inputs.py [--json results/short_inputs.json]
For each input group (1-4 real words vs long), every layer's int8 / 16-bit intermediates (attention
output, LayerNorm 1 output, GELU output, layer output) are read back from the simulator's DRAM,
dequantized and compared per token with the float64 graph (compiler/graph.py) as relative L2
error ||sim - ref|| / ||ref||, split into special tokens ([CLS]/[SEP]) and word tokens.
The inputs are the built-in texts (encore/inputs.py), unpadded, one program.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from compiler import compile_model, load_model
from encore.accuracy import mean_pool
from encore.host import run_functional, tokenize
from encore.inputs import DEFAULT_TEXTS
from isa import MachineConfig

SUBLAYERS = (("ctx", "ctx"), ("h1", "h1"), ("f", "ffn"), ("out", "out"))


def sublayer_errors(cm, ids, mask, texts) -> list[dict]:
    g, prog = cm.graph, cm.program
    cap: dict = {}
    g.forward(ids, mask, capture=cap)
    sim, _, layers = run_functional(prog, ids, mask)
    keep = mask.astype(bool)
    special = np.isin(ids, [cm.loaded.tokenizer.cls_token_id, cm.loaded.tokenizer.sep_token_id])
    lengths = mask.sum(1)
    rows = []
    for i in range(len(g.layers)):
        for cname, tname in SUBLAYERS:
            t = prog.tensor(f"L{i}.{tname}")
            vals = prog.read_tensor(sim.dram, t.name).astype(np.float64) * np.asarray(t.scale)
            full = np.zeros((*ids.shape, t.cols))
            full[keep] = vals
            ref = cap[f"{i}.{cname}"][0][0]
            if tname == "ctx":  # ctx columns are per head padded to whole blocks
                dh, hb = g.head_dim, cm.quantized.head_blocks * prog.config.dim
                cols = (np.arange(g.heads)[:, None] * hb + np.arange(dh)[None, :]).reshape(-1)
                full = full[..., cols]
            err = np.linalg.norm(full - ref, axis=-1) / np.maximum(
                np.linalg.norm(ref, axis=-1), 1e-30)
            for group, sel in (("short", lengths <= 6), ("long", lengths > 6)):
                for kind, tok in (("special", special), ("word", ~special)):
                    m = keep & sel[:, None] & tok
                    if m.any():
                        rows.append({"layer": i, "sublayer": cname, "group": group,
                                     "tokens": kind, "rel_err_mean": float(err[m].mean()),
                                     "rel_err_max": float(err[m].max())})
    ref_e = mean_pool(cap[f"{len(g.layers) - 1}.out"][0][0], mask)
    cos = (mean_pool(layers[-1], mask) * ref_e).sum(-1)
    for t, c, n in zip(texts, cos, lengths, strict=True):
        rows.append({"text": t, "tokens": int(n), "cosine_vs_float_graph": float(c)})
    return rows


def print_bounds(q) -> None:
    """Per layer: the qmax of each 16-bit activation and max_n sum_k |w_kn| of the GEMM that
    reads it; 'any input' when sum |w| * 2**15 < 2**31, i.e. no value the instruction can write
    (|v| <= 32768, the 16-bit saturation) can overflow the accumulator, not only calibrated ones."""
    from compiler.quantize import INT32_LIM, column_abs_sum

    print(f"act_bits {q.act_bits}; embedding LayerNorm output qmax {q.qmax_x0}")
    print("| layer | activation -> GEMM | qmax | max column sum |w| | bound (qmax+128)*sum | "
          "any input |")
    print("|---|---|---|---|---|---|")
    for i, ql in enumerate(q.layers):
        for act, gemm, codes in (("x", "QKV", ql.wqkv), ("h1", "FFN1", ql.w1),
                                 ("f", "FFN2", ql.w2)):
            cs = column_abs_sum(codes)
            qm = ql.qmax[act]
            print(f"| {i} | {act} -> {gemm} | {qm} | {cs} | {cs * (qm + 128):,} | "
                  f"{'yes' if cs * (1 << 15) <= INT32_LIM else 'no'} |")
    print(f"int32 limit {INT32_LIM:,}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--quant", type=json.loads, default=None, help="quantize options as JSON")
    ap.add_argument("--act-bits", type=int, choices=(8, 16), default=None,
                    help="activation width (default 16: 16-bit LayerNorm and GELU outputs)")
    ap.add_argument("--bounds", action="store_true",
                    help="print each 16-bit activation's qmax and the accumulator bound of the "
                    "GEMM that reads it, then stop")
    args = ap.parse_args()
    lm = load_model("minilm-l6")
    texts = list(DEFAULT_TEXTS)
    seq = max(len(lm.tokenizer(t)["input_ids"]) for t in texts)
    ids, mask = tokenize(lm.tokenizer, texts, seq)
    cm = compile_model("minilm-l6", MachineConfig(), seq_len=seq, lengths=list(mask.sum(1)),
                       padded=False, loaded=lm, quant=args.quant, act_bits=args.act_bits)
    if args.bounds:
        print_bounds(cm.quantized)
        return
    rows = sublayer_errors(cm, ids, mask, texts)
    print("| layer | sublayer | short special | short word | long special | long word |")
    print("|---|---|---|---|---|---|")
    table: dict = {}
    for r in rows:
        if "layer" in r:
            table.setdefault((r["layer"], r["sublayer"]), {})[(r["group"], r["tokens"])] = r
    for (layer, sub), cells in table.items():
        vals = [cells.get(k, {}).get("rel_err_mean", float("nan")) for k in
                (("short", "special"), ("short", "word"), ("long", "special"), ("long", "word"))]
        print(f"| {layer} | {sub} | " + " | ".join(f"{v:.4f}" for v in vals) + " |")
    for r in rows:
        if "text" in r:
            print(f"{r['tokens']:>4}  {r['cosine_vs_float_graph']:.5f}  {r['text'][:50]}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
