"""RTL simulation speed: simulated cycles per wall-clock second on Verilator (through cocotb,
with the Python AXI DRAM model in the loop), for DIM 4, 8 and 16 on one linear layer.

    .venv/bin/python benchmarks/rtl_speed.py [--dims 4 8 16] [--m 64 --k 64 --n 64]

Builds are cached in .cache/rtl; the timing covers only the program run (from START to the
interrupt), not the build or the simulator start-up. Results go to results/rtl_speed.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from compiler.testprogs import linear_program  # noqa: E402
from hw.rtlsim.runner import RtlJob, run_jobs  # noqa: E402
from isa import MachineConfig  # noqa: E402


def measure(dim: int, m: int, k: int, n: int) -> dict:
    cfg = MachineConfig(dim=dim, sp_kib=max(4, dim * dim // 16), acc_kib=max(4, dim * dim // 16),
                        dram_latency=64)
    prog, inputs, _ = linear_program(cfg, m, k, n, bias=True, seed=0)
    dram = prog.new_dram()
    for name, value in inputs.items():
        prog.write_tensor(dram, name, value)
    t0 = time.perf_counter()
    job = RtlJob(prog, dram, latency=(cfg.dram_latency, cfg.dram_latency), ready_prob=1.0)
    res = run_jobs(cfg, [job])[0]
    total = time.perf_counter() - t0
    wall = res.regs["wall_seconds"]
    return {"dim": dim, "shape": [m, k, n], "instructions": len(prog.instructions),
            "cycles": res.cycles, "run_seconds": round(wall, 3),
            "cycles_per_second": round(res.cycles / wall), "total_seconds": round(total, 1),
            "error": res.error}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dims", type=int, nargs="+", default=[4, 8, 16])
    ap.add_argument("--m", type=int, default=64)
    ap.add_argument("--k", type=int, default=64)
    ap.add_argument("--n", type=int, default=64)
    args = ap.parse_args()
    rows = [measure(d, args.m, args.k, args.n) for d in args.dims]
    print("| DIM | linear m x k x n | instructions | RTL cycles | run time (s) | cycles / s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        m, k, n = r["shape"]
        print(f"| {r['dim']} | {m} x {k} x {n} | {r['instructions']} | {r['cycles']} | "
              f"{r['run_seconds']} | {r['cycles_per_second']:,} |")
    out = ROOT / "results"
    out.mkdir(exist_ok=True)
    (out / "rtl_speed.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
