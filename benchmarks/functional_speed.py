"""Wall time of the functional simulator on bert-base (seq 128, DIM 16, batch 1).

Run: .venv/bin/python benchmarks/functional_speed.py [--model bert-base] [--seq 128] [--dim 16]
Prints a table and writes results/functional_speed.json. Target: under 20 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from compiler import compile_model
from encore.host import run_functional
from encore.inputs import random_ids
from isa import MachineConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="bert-base")
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--dim", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--out", default="results/functional_speed.json")
    args = ap.parse_args()
    t = time.perf_counter()
    cm = compile_model(args.model, MachineConfig(dim=args.dim), seq_len=args.seq)
    compile_s = time.perf_counter() - t
    ids, mask = random_ids(cm.graph.word_emb.shape[0], 1, args.seq, cm.graph.pad_id)
    times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        _, stats, _ = run_functional(cm.program, ids, mask)
        times.append(time.perf_counter() - t)
    best = min(times)
    res = {"model": args.model, "seq": args.seq, "dim": args.dim,
           "instructions": stats.instructions, "array_macs": stats.macs,
           "compile_s": compile_s, "simulate_s": times, "best_s": best,
           "instructions_per_s": stats.instructions / best, "gmacs_per_s": stats.macs / best / 1e9}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2))
    print("| model | seq | DIM | instructions | compile (s) | simulate (s, best of "
          f"{args.repeat}) | G array MAC/s |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {args.model} | {args.seq} | {args.dim} | {stats.instructions} | {compile_s:.1f} | "
          f"{best:.2f} | {res['gmacs_per_s']:.2f} |")


if __name__ == "__main__":
    main()
