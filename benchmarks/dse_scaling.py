"""Serial vs distributed wall time of ``encore dse`` and ``encore bench`` on this machine, and the
speed-up N machines would give, from the per-point costs the runs recorded.

    .venv/bin/python benchmarks/dse_scaling.py [--model minilm-l6] [--workers 2]

Each run starts from an empty results folder (nothing cached). Writes results/dse_scaling.json.
The N-machine figure: every program is compiled once (compile_s) and each point is timed
(timing_s); with W single-core workers the work spreads as W bins, but no run can be shorter than
its longest program plus the points timed on it, nor than the cluster's start-up measured here.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "encore.cli", *cmd], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def costs(results: Path) -> tuple[dict, list]:
    """compile seconds per program, and (program, timing seconds) per point."""
    compile_s, points = {}, []
    for line in results.read_text().splitlines():
        item = json.loads(line)
        model, seq, pid = item["key"].split("|")
        cfg = dict(kv.split("=") for kv in pid.split())
        prog = (model, seq, cfg["dim"], cfg["sp-kib"], cfg["acc-kib"])
        rec = item["record"]
        compile_s[prog] = rec.get("compile_s", 0.0)
        points.append((prog, rec.get("timing_s", 0.0)))
    return compile_s, points


def predicted(compile_s: dict, points: list, workers: int) -> float:
    """Greedy longest-first schedule of (compile + its points) onto ``workers`` equal workers."""
    per_prog = dict(compile_s)
    for prog, t in points:
        per_prog[prog] += t
    bins = [0.0] * workers
    for t in sorted(per_prog.values(), reverse=True):
        bins[bins.index(min(bins))] += t
    return max(bins)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="minilm-l6")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--space", default="dim=8,16 sp-kib=128,512 dram-bw=8,16,32,64")
    args = ap.parse_args()
    base = ROOT / "results" / "dse_scaling"
    shutil.rmtree(base, ignore_errors=True)
    out = {}
    for name, w in (("serial", 0), ("distributed", args.workers)):
        d = base / f"dse-{name}"
        out[f"dse_{name}_s"] = run(["dse", "--model", args.model, "--seq", "128", "--space",
                                    args.space + " clock-mhz=100", "--workers", str(w),
                                    "--target", "xczu9eg", "--no-progress", "--out", str(d)])
        b = base / f"bench-{name}"
        out[f"bench_{name}_s"] = run(["bench", "--models", args.model, "--seq", "128", "--dims",
                                      "8,16", "--bandwidths", "8,16,32,64", "--no-torch",
                                      "--no-plots", "--workers", str(w), "--out", str(b)])
    compile_s, points = costs(base / "dse-serial" / "results.jsonl")
    work = sum(compile_s.values()) + sum(t for _, t in points)
    out.update(programs=len(compile_s), points=len(points), work_s=work,
               longest_program_s=predicted(compile_s, points, len(compile_s)))
    out["predicted_s"] = {n: predicted(compile_s, points, n) for n in (1, 2, 4, 8, 16)}
    (ROOT / "results" / "dse_scaling.json").write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
