"""``encore dse``: explore machine configurations with the timing model on a Dask cluster.

Each point of --space is timed on every --model for --seq (or every length bucket of --lengths),
its FPGA resources on --target (a target of encore fpga) come from measured reports
(--area-reports, e.g. benchmarks/dse_area_reports.json), a model fitted to them, or the analytic
model (encore/dse/area.py), and the best point under --budget is printed as the commands that
reproduce it. A local cluster with one worker per core starts by default; --address joins a
running one; --workers 0 runs serially in this process. Writes points.csv, dse.json,
results.jsonl (resumable: rerun with the same --out to continue) and pareto.png to --out.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def add_parser(sub) -> None:
    from encore.dse.area import DEFAULT_PART, PARTS
    from encore.dse.engine import add_engine_args
    from encore.dse.explore import OBJECTIVES
    from encore.dse.space import PARAMS
    from encore.dse.workload import DEFAULT_PAD_TO

    p = sub.add_parser("dse", help="design-space exploration (timing model, Dask cluster)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", action="append", required=True,
                   help="model name or local Hugging Face folder (repeat for several)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--seq", type=int, help="sequence length (default 128)")
    g.add_argument("--lengths", metavar="FILE",
                   help="sentence lengths, one per line or 'LENGTH COUNT'; 'builtin': the 16 "
                   "default sentences of encore run")
    p.add_argument("--pad-to", type=int, default=DEFAULT_PAD_TO,
                   help=f"--lengths: pad to a multiple of this (default {DEFAULT_PAD_TO})")
    p.add_argument("--space", required=True,
                   help="space-separated NAME=V1,V2,... or NAME=LO..HI; NAME one of "
                   f"{', '.join(PARAMS)}")
    p.add_argument("--max-points", type=int, default=256,
                   help="grid if the space has at most this many points, else a random search "
                   "of this many (default 256)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random search")
    p.add_argument("--objective", choices=OBJECTIVES, default="latency",
                   help="what 'best' minimizes (default latency)")
    p.add_argument("--target", default=DEFAULT_PART,
                   help=f"FPGA target of encore fpga, one of {', '.join(PARTS)} "
                   f"(default {DEFAULT_PART})")
    p.add_argument("--budget", action="append", metavar="RESOURCE=N",
                   help="lut, ff, dsp, bram, area (fraction of the part) or fmax (MHz); "
                   "default: the part's capacity and fmax")
    p.add_argument("--area-reports", metavar="FILE",
                   help="measured FPGA reports: a JSON list of encore fpga reports, "
                   "whole-accelerator counts or PE counts (benchmarks/dse_area.py)")
    add_engine_args(p)
    p.add_argument("--out", type=Path, default=Path("results/dse"),
                   help="results folder (default results/dse)")
    p.add_argument("--programs", type=Path,
                   help="compiled-program cache (default <out>/programs)")
    p.add_argument("--json", metavar="PATH", help="also write dse.json here")
    p.add_argument("--report-only", action="store_true",
                   help="time nothing: report what --out's results.jsonl holds (e.g. while or "
                   "after an interrupted run), listing the rest as pending")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _workload(args):
    from encore.dse import workload

    if args.lengths:
        return workload.buckets(workload.read_lengths(args.lengths), args.pad_to)
    seq = 128 if args.seq is None else args.seq
    if not 1 <= seq <= 4095:
        raise ValueError(f"--seq {seq} is out of range: expected 1..4095")
    return [(seq, 1)]


def run(args) -> int:
    from tqdm import tqdm

    from encore.dse import area as area_mod
    from encore.dse import report, space, workload
    from encore.dse.engine import Engine
    from encore.dse.explore import check_budget_possible, explore

    axes = space.parse_space(args.space)
    points, method = space.points(axes, args.max_points, args.seed)
    reports = area_mod.load_reports(args.area_reports) if args.area_reports else None
    area = area_mod.AreaModel(args.target, reports)
    budget = area_mod.parse_budget(args.budget)
    if budget:  # with the part's capacity alone, points that do not fit are listed, with why
        check_budget_possible(points, area, budget)
    mix = _workload(args)

    def say(msg: str) -> None:
        print(msg, file=sys.stderr)

    say(f"encore dse: {len(points)} points ({method} of a {space.grid_size(axes)}-point space) x "
        f"{len(args.model)} model(s) x {workload.describe(mix)}")
    cache = args.programs or args.out / "programs"
    t0 = time.perf_counter()
    bar = None
    with Engine(0 if args.report_only else args.workers, args.address) as engine:
        say(f"engine: {'none (--report-only)' if args.report_only else engine.describe()}")

        def progress(job, total, workers):
            nonlocal bar
            if bar is None:
                bar = tqdm(total=total, desc="dse", unit="point", disable=args.no_progress)
            else:
                bar.update(1)
            bar.set_postfix_str(f"{workers} workers", refresh=False)

        try:
            ex = explore(args.model, mix, points, area, budget,
                         None if args.report_only else engine, args.out,
                         (str(cache), False, False), on_progress=progress)
        finally:
            if bar is not None:
                bar.close()
    wall = time.perf_counter() - t0
    meta = {"models": args.model, "workload": workload.describe(mix), "mix": mix,
            "space": args.space, "method": method, "target": area.part.name, "budget": budget,
            "workers": ex.workers, "wall_s": wall, "computed": ex.computed,
            "reused": ex.reused, "compile_s_total": sum(ex.compile_s.values()),
            "programs_compiled": len(ex.compile_s), "timing_s_total": ex.timing_s}
    best, front, files = report.finish(args.out, ex.points, meta, args.objective, args.json)
    rows = sorted(ex.points, key=lambda r: (r["status"] != "ok", r.get("objective") or 0))
    print(report.table(rows))
    print(f"\n{ex.computed} timings computed, {ex.reused} reused from {args.out}/results.jsonl; "
          f"{len(ex.compile_s)} programs; {ex.workers} workers; wall {wall:.1f} s "
          f"(compile {meta['compile_s_total']:.1f} s + timing {ex.timing_s:.1f} s of work)")
    print(f"Pareto front (latency vs area): {len(front)} points")
    if best is None:
        timed = [r for r in ex.points if r["status"] == "over budget"]
        small = min(timed, key=lambda r: r["area"]) if timed else None
        print("no point fits the budget and compiles: see the reasons above"
              + (f"; the smallest, {small['point']} (area {small['area']:.3f}, "
                 f"{small['area_source']}): {small['reason']}" if small else ""))
    else:
        print(f"best ({args.objective}) on {area.part.name}: {best['point']}: "
              f"{best['latency_ms']:.2f} ms, area {best['area']:.3f} ({best['area_source']})")
        for c in report.best_commands(best, args.model, mix, area.part.name):
            print("  " + c)
    print(f"wrote {', '.join(files)} to {args.out}")
    return 0
