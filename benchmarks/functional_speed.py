"""Functional + timing simulation speed against the float64 GEMM floor, on one program
(default: bert-base, seq 128, DIM 16, batch 1).

    .venv/bin/python benchmarks/functional_speed.py [--program P.encore | --model bert-base
        --seq 128 --dim 16] [--repeat 2]

Times, in this process, each stage of ``encore simulate``: loading the program file (checksum
and decoding included), the functional simulator (inputs, every instruction, outputs), and the
timing model. The floor: the same matrix products the functional simulator computes (their
shapes are recorded during the run), done again as bare float64 numpy GEMMs on prepared
operands, in the same run. The ratio is (load + simulate + timing) / floor, best of --repeat,
both in wall-clock seconds and in this process's CPU seconds (the CPU ratio does not depend on
what else runs on the machine; run with OPENBLAS_NUM_THREADS=1 so that the floor's CPU time is
one thread's). Prints a table and writes results/functional_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
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


def gemm_floor(shapes: Counter, repeat: int, dtype=np.float64) -> tuple[float, float]:
    """Best-of-``repeat`` wall and CPU seconds for the products of ``shapes`` in ``dtype``
    (operands prepared)."""
    rng = np.random.default_rng(0)
    ops = [(rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype),
            c) for (m, k, n), c in shapes.items()]
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        for a, b, count in ops:
            for _ in range(count):
                a @ b
        best = min(best, time.perf_counter() - t)
        best_cpu = min(best_cpu, time.process_time() - c)
    return best, best_cpu


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
    stages = ("load", "simulate", "timing")
    best = dict.fromkeys(stages, float("inf"))
    best_cpu = dict.fromkeys(stages, float("inf"))

    def now():
        return time.perf_counter(), time.process_time()

    for _ in range(args.repeat):
        t0 = now()
        prog = Program.load(path)
        t1 = now()
        meta = prog.meta
        ids, mask = random_ids(meta["vocab"], meta["batch"], meta["seq"], meta["pad_id"], 0)
        _, stats, _ = run_functional(prog, ids, mask)
        t2 = now()
        timing = timing_section(prog, 200.0)
        t3 = now()
        for key, a, b in zip(stages, (t0, t1, t2), (t1, t2, t3), strict=True):
            best[key] = min(best[key], b[0] - a[0])
            best_cpu[key] = min(best_cpu[key], b[1] - a[1])
    shapes = record_matmuls(lambda: run_functional(prog, ids, mask))
    floor, floor_cpu = gemm_floor(shapes, args.repeat)
    # For reference: the same products in float32 (the simulator's BLAS type, exact over K
    # chunks within 2**24; sim/functional.py).
    f32, f32_cpu = gemm_floor(shapes, args.repeat, np.float32)
    total, total_cpu = sum(best.values()), sum(best_cpu.values())
    res = {"program": path, "instructions": stats.instructions, "array_macs": stats.macs,
           "cycles": timing["cycles"], "seconds": best, "total_s": total,
           "gemm_floor_s": floor, "matmul_calls": sum(shapes.values()),
           "ratio_to_floor": total / floor, "cpu_seconds": best_cpu, "total_cpu_s": total_cpu,
           "gemm_floor_cpu_s": floor_cpu, "cpu_ratio_to_floor": total_cpu / floor_cpu,
           "gemm_float32_s": f32, "gemm_float32_cpu_s": f32_cpu,
           "load_average": list(os.getloadavg())}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2))
    print(f"| clock | instructions | load (s) | functional (s) | timing (s) | total (s) | "
          f"float64 GEMM floor (s) | ratio |   (best of {args.repeat})")
    print("|---|---|---|---|---|---|---|---|")
    for name, b, t, f in (("wall", best, total, floor), ("CPU", best_cpu, total_cpu, floor_cpu)):
        print(f"| {name} | {stats.instructions} | {b['load']:.2f} | {b['simulate']:.2f} | "
              f"{b['timing']:.2f} | {t:.2f} | {f:.2f} | {t / f:.2f}x |")
    print(f"the same products in float32: {f32:.2f} s wall, {f32_cpu:.2f} s CPU")
    load1, load5, _ = os.getloadavg()
    print(f"load average during the run: {load1:.1f} (1 min), {load5:.1f} (5 min)")


if __name__ == "__main__":
    main()
