"""How fast the timing model times a compiled model, and what it estimates.

    .venv/bin/python benchmarks/latency_timing_speed.py [--model bert-base] [--seq 128]
        [--dim 16] [--bandwidth 16] [--repeats 5]

Compiles once (not timed), then times ``sim.timing.estimate`` ``--repeats`` times and prints the
best and median wall time, the instruction count, the estimate and the five costliest opcodes,
as Markdown for benchmarks/README.md ("Latency estimates (timing model)").
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="bert-base")
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--dim", type=int, default=16)
    ap.add_argument("--bandwidth", type=int, default=16, help="DRAM bytes per cycle")
    ap.add_argument("--clock-mhz", type=float, default=200.0)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    if args.repeats < 1:
        ap.error(f"--repeats {args.repeats} is invalid: expected >= 1")

    import sim.timing
    from compiler import compile_model
    from isa import MachineConfig

    cfg = MachineConfig(dim=args.dim, dram_bytes_per_cycle=args.bandwidth)
    t = time.perf_counter()
    # GPTQ changes weight codes, not instructions (tests/test_compiler.py): not needed for timing.
    program = compile_model(args.model, cfg, seq_len=args.seq, quant={"use_gptq": False}).program
    compile_s = time.perf_counter() - t
    walls = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        report = sim.timing.estimate(program, clock_mhz=args.clock_mhz)
        walls.append(time.perf_counter() - t)
    n = len(program.instructions)
    print(f"| model | seq | DIM | B/cycle | instructions | timing best / median (s) | "
          f"cycles | latency ms @ {args.clock_mhz:g} MHz | ideal cycles | MAC utilization |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {args.model} | {args.seq} | {args.dim} | {args.bandwidth} | {n:,} | "
          f"{min(walls):.2f} / {statistics.median(walls):.2f} | {report.cycles:,} | "
          f"{report.latency_ms:.1f} | {report.ideal_cycles:,} | {report.utilization:.3f} |")
    print(f"\n(compile, not timed: {compile_s:.1f} s; {n / min(walls):,.0f} instructions/s)")
    units = report.to_dict()["units"]
    print("\nunit busy / token stall (cycles): " + ", ".join(
        f"{u} {v['busy']:,} / {v['stall']:,}" for u, v in units.items()))
    top = sorted(report.by_opcode.items(), key=lambda kv: -kv[1]["cycles"])[:5]
    print("costliest opcodes (busy cycles): " + ", ".join(
        f"{op} x{v['count']:,} {v['cycles']:,}" for op, v in top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
