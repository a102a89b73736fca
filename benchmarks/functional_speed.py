"""Functional + timing simulation speed against the float64 GEMM floor, on one program
(default: bert-base, seq 128, DIM 16, batch 1).

    .venv/bin/python benchmarks/functional_speed.py [--program P.encore | --model bert-base
        --seq 128 --dim 16] [--repeat 2]

Times, in this process, each stage of ``encore simulate``: loading the program file (checksum
and decoding included), the functional simulator (inputs, every instruction, outputs), and the
timing model. The floor: the same matrix products the functional simulator computes (their
shapes are recorded during the run), done again as bare float64 numpy GEMMs on prepared
operands, in the same run. The ratio is (load + simulate + timing) / floor, best of --repeat.
Prints a table and writes results/functional_speed.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sim.functional as functional  # noqa: E402
from encore.api import timing_section  # noqa: E402
from encore.host import run_functional  # noqa: E402
from encore.inputs import random_ids  # noqa: E402
from isa import MachineConfig, Program  # noqa: E402


def program_file(args) -> str:
    if args.program:
        return args.program
    from compiler import compile_model

    cm = compile_model(args.model, MachineConfig(dim=args.dim), seq_len=args.seq)
    path = Path(tempfile.mkdtemp(prefix="encore-fspeed-")) / "p.encore"
    cm.program.save(path)
    return str(path)


def record_matmuls(run):
    """Run ``run()`` with the functional simulator's exact matmul wrapped to count the product
    shapes (m, k, n); return the Counter."""
    shapes: Counter = Counter()
    inner = functional._exact_matmul

    def counting(a, b, max_abs_prod):
        shapes[(a.shape[0], a.shape[1], b.shape[1])] += 1
        return inner(a, b, max_abs_prod)

    functional._exact_matmul = counting
    try:
        run()
    finally:
        functional._exact_matmul = inner
    return shapes


def gemm_floor(shapes: Counter, repeat: int) -> float:
    """Best-of-``repeat`` seconds for the float64 products of ``shapes`` (operands prepared)."""
    rng = np.random.default_rng(0)
    ops = [(rng.standard_normal((m, k)), rng.standard_normal((k, n)), c)
           for (m, k, n), c in shapes.items()]
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for a, b, count in ops:
            for _ in range(count):
                a @ b
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--program", help="a compiled program file (else compile --model)")
    ap.add_argument("--model", default="bert-base")
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--dim", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--out", default="results/functional_speed.json")
    args = ap.parse_args()
    path = program_file(args)
    best = {"load": float("inf"), "simulate": float("inf"), "timing": float("inf")}
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        prog = Program.load(path)
        t1 = time.perf_counter()
        meta = prog.meta
        ids, mask = random_ids(meta["vocab"], meta["batch"], meta["seq"], meta["pad_id"], 0)
        _, stats, _ = run_functional(prog, ids, mask)
        t2 = time.perf_counter()
        timing = timing_section(prog, 200.0)
        t3 = time.perf_counter()
        for key, value in zip(best, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            best[key] = min(best[key], value)
    shapes = record_matmuls(lambda: run_functional(prog, ids, mask))
    floor = gemm_floor(shapes, args.repeat)
    total = sum(best.values())
    res = {"program": path, "instructions": stats.instructions, "array_macs": stats.macs,
           "cycles": timing["cycles"], "seconds": best, "total_s": total,
           "gemm_floor_s": floor, "matmul_calls": sum(shapes.values()),
           "ratio_to_floor": total / floor}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2))
    print(f"| instructions | load (s) | functional (s) | timing (s) | total (s) | float64 GEMM "
          f"floor (s) | ratio |   (best of {args.repeat})")
    print("|---|---|---|---|---|---|---|")
    print(f"| {stats.instructions} | {best['load']:.2f} | {best['simulate']:.2f} | "
          f"{best['timing']:.2f} | {total:.2f} | {floor:.2f} | {total / floor:.2f}x |")


if __name__ == "__main__":
    main()
