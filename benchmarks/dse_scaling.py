"""Serial vs distributed wall time of ``encore dse`` and ``encore bench`` on this machine, and the
speed-up N machines would give, from the per-point costs the runs recorded.

    .venv/bin/python benchmarks/dse_scaling.py [--model minilm-l6] [--workers 2]

Each run starts from an empty results folder (nothing cached). Writes
results/dse_scaling-<only>.json.
The N-machine figure: every program is compiled once (compile_s) and each point is timed
(timing_s); ``predicted`` schedules those costs greedily on W equal single-core workers, each
paying the model's load (load_s) before its first compile of that model (start-up of the
cluster not included).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(cmd: list[str], loads: dict, name: str) -> float:
    """Wall seconds of one ``encore`` command; records the 1-minute load average before and
    after it (the machine may be shared: wall times scale with the load)."""
    before = os.getloadavg()[0]
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "encore.cli", *cmd], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    loads[name] = [round(before, 2), round(os.getloadavg()[0], 2)]
    print(f"{name}: {wall:.1f} s (load average {before:.2f} before, "
          f"{os.getloadavg()[0]:.2f} after)", file=sys.stderr, flush=True)
    return wall


def costs(results: Path) -> tuple[dict, list, dict]:
    """Compile seconds per program (without loading the model), (program, timing seconds) per
    point, and the seconds one process spends loading each model (``load_s``: paid once per
    model by every worker that compiles one of its programs)."""
    compile_s, points, load_s = {}, [], {}
    for line in results.read_text().splitlines():
        item = json.loads(line)
        model, seq, pid = item["key"].split("|")
        cfg = dict(kv.split("=") for kv in pid.split())
        prog = (model, seq, cfg["dim"], cfg["sp-kib"], cfg["acc-kib"])
        rec = item["record"]
        load = rec.get("load_s", 0.0)
        compile_s[prog] = rec.get("compile_s", 0.0) - load
        if load:
            load_s[model] = max(load_s.get(model, 0.0), load)
        points.append((prog, rec.get("timing_s", 0.0)))
    return compile_s, points, load_s


def predicted(compile_s: dict, points: list, workers: int, load_s: dict | None = None) -> float:
    """Makespan of a greedy schedule on ``workers`` equal workers: compiles longest first, then
    each point as soon as its program is compiled and a worker is free (what the engine does).
    A worker's first compile of a model also pays ``load_s[model]``."""
    load_s = load_s or {}
    free = [0.0] * workers
    has = [set() for _ in range(workers)]
    ready = {}
    for prog, t in sorted(compile_s.items(), key=lambda kv: -kv[1]):
        i = free.index(min(free))
        free[i] += t + (0.0 if prog[0] in has[i] else load_s.get(prog[0], 0.0))
        has[i].add(prog[0])
        ready[prog] = free[i]
    for prog, t in sorted(points, key=lambda p: ready[p[0]]):
        i = free.index(min(free))
        free[i] = max(free[i], ready[prog]) + t
    return max(free)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="minilm-l6")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--space", default="dim=8,16 sp-kib=128,512 dram-bw=16,64")
    ap.add_argument("--only", choices=("dse", "bench", "none"), help="time one command only "
                    "(none: only predict from --predict)")
    ap.add_argument("--predict", metavar="RESULTS.jsonl",
                    help="per-point costs of another run (default: this run's serial dse)")
    args = ap.parse_args()
    base = ROOT / "results" / "dse_scaling"
    if args.only != "none":
        shutil.rmtree(base, ignore_errors=True)
    out = {"cpus": os.cpu_count()}
    loads = out["load_average"] = {}
    for name, w in (("serial", 0), ("distributed", args.workers)):
        d = base / f"dse-{name}"
        if args.only in ("bench", "none"):
            continue
        out[f"dse_{name}_s"] = run(["dse", "--model", args.model, "--seq", "128", "--space",
                                    args.space + " clock-mhz=100", "--workers", str(w),
                                    "--target", "xilinx-xcup", "--no-progress", "--out", str(d)],
                                   loads, f"dse_{name}")
    for name, w in (("serial", 0), ("distributed", args.workers)):
        b = base / f"bench-{name}"
        if args.only in ("dse", "none"):
            continue
        out[f"bench_{name}_s"] = run(["bench", "--models", args.model, "--seq", "128", "--dims",
                                      "8,16", "--bandwidths", "8,16,32,64", "--no-torch",
                                      "--no-plots", "--workers", str(w), "--out", str(b)],
                                     loads, f"bench_{name}")
    for kind in ("dse", "bench"):
        if f"{kind}_distributed_s" in out:
            out[f"{kind}_speedup"] = out[f"{kind}_serial_s"] / out[f"{kind}_distributed_s"]
    results = Path(args.predict) if args.predict else base / "dse-serial" / "results.jsonl"
    if results.is_file():
        compile_s, points, load_s = costs(results)
        work = sum(compile_s.values()) + sum(t for _, t in points) + sum(load_s.values())
        out.update(costs_from=str(results), programs=len(compile_s), points=len(points),
                   work_s=work, load_s=load_s)
        out["predicted_s"] = {n: predicted(compile_s, points, n, load_s)
                              for n in (1, 2, 4, 8, 16, 64)}
    (ROOT / "results").mkdir(exist_ok=True)
    path = ROOT / "results" / f"dse_scaling-{args.only or 'all'}.json"
    path.write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
