"""Markdown tables of an ``encore bench`` run, for benchmarks/README.md.

    .venv/bin/python benchmarks/latency_table.py [results/bench] [--bandwidth 16]
        [--before results/bench-before]

Table 1: every model x seq x DIM at one DRAM bandwidth: the estimate beside its roofline bound
(sim/timing/roofline.py: max of MACs/DIM² and the unavoidable DRAM bytes / bandwidth, which
side binds, estimate / bound), MAC utilization, PyTorch on this CPU if measured, and with
``--before`` the estimate of an earlier run and the change. Table 2: estimate / bound for every
point of the sweep (all bandwidths), with the change against ``--before`` where given.
Table 3: bandwidth sensitivity at DIM 16.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path


def _read(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with path.open() as f:
        return list(csv.DictReader(f))


def _key(r: dict) -> tuple:
    return (r["model"], int(r["seq"]), int(r["dim"]), int(r["dram_bytes_per_cycle"]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path, nargs="?", default=Path("results/bench"))
    ap.add_argument("--bandwidth", type=int, default=16)
    ap.add_argument("--before", type=Path, help="an earlier run's folder to compare with")
    args = ap.parse_args()
    est = _read(args.folder / "estimates.csv")
    if not est:
        ap.error(f"{args.folder / 'estimates.csv'} is missing or empty: run `encore bench` first")
    if "bound_ms" not in est[0]:
        ap.error(f"{args.folder / 'estimates.csv'} has no roofline columns: re-run `encore bench`")
    before = {}
    if args.before is not None:
        old = _read(args.before / "estimates.csv")
        if not old:
            ap.error(f"{args.before / 'estimates.csv'} is missing or empty")
        before = {_key(r): float(r["latency_ms"]) for r in old}
    torch = {(r["model"], r["seq"]): r for r in _read(args.folder / "torch.csv")}
    meta = args.folder / "bench.json"
    clock = json.loads(meta.read_text())["clock_mhz"] if meta.is_file() else "?"
    print(f"DRAM {args.bandwidth} B/cycle, clock {clock} MHz"
          + ("; PyTorch: batch 1, median wall time on this machine's CPU." if torch else "")
          + "\n")
    cols = ["model", "seq", "DIM"]
    if before:
        cols += ["before ms", "est. ms", "change"]
    else:
        cols += ["est. ms"]
    cols += ["bound ms", "binds", "est. / bound", "MAC util."]
    if torch:
        cols += ["PyTorch FP32 ms", "PyTorch int8 (dynamic) ms"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in est:
        if int(r["dram_bytes_per_cycle"]) != args.bandwidth:
            continue
        ms = float(r["latency_ms"])
        cells = [r["model"], r["seq"], r["dim"]]
        if before:
            b = before.get(_key(r))
            cells += [f"{b:.2f}" if b else "-", f"{ms:.2f}",
                      f"{(ms / b - 1) * 100:+.1f} %" if b else "-"]
        else:
            cells += [f"{ms:.2f}"]
        cells += [f"{float(r['bound_ms']):.2f}", r["bound"], f"{float(r['bound_ratio']):.3f}",
                  f"{float(r['utilization']):.3f}"]
        if torch:
            t = torch.get((r["model"], r["seq"]))
            cells += [f"{float(t['fp32_ms']):.1f}" if t else "-",
                      f"{float(t['int8_dynamic_ms']):.1f}" if t else "-"]
        print("| " + " | ".join(cells) + " |")

    bws = sorted({int(r["dram_bytes_per_cycle"]) for r in est})
    print("\nEstimate / roofline bound per point (m: memory-bound, c: compute-bound"
          + ("; in brackets the change of the estimate against the earlier run" if before
             else "") + ")\n")
    print("| model | seq | DIM | " + " | ".join(f"{b} B/c" for b in bws) + " |")
    print("|---|---|---|" + "---|" * len(bws))
    by_point = {_key(r): r for r in est}
    for model, seq, dim in dict.fromkeys(k[:3] for k in by_point):
        cells = []
        for b in bws:
            r = by_point.get((model, seq, dim, b))
            if r is None:
                cells.append("-")
                continue
            cell = f"{float(r['bound_ratio']):.2f} {r['bound'][0]}"
            old = before.get((model, seq, dim, b))
            if old:
                cell += f" ({(float(r['latency_ms']) / old - 1) * 100:+.1f} %)"
            cells.append(cell)
        print(f"| {model} | {seq} | {dim} | " + " | ".join(cells) + " |")
    ratios = [float(r["bound_ratio"]) for r in est]
    print(f"\n{len(ratios)} points: estimate / bound {min(ratios):.3f} to {max(ratios):.3f}; "
          f"{sum(x <= 1.10 for x in ratios)} within 1.10x, {sum(x <= 1.25 for x in ratios)} "
          "within 1.25x.")
    if before:
        changes = [(float(r["latency_ms"]) / before[_key(r)] - 1, _key(r)) for r in est
                   if _key(r) in before]
        slower = [(c, k) for c, k in changes if c > 0]
        print(f"Against the earlier run: {len(changes)} points compared, "
              f"{sum(c < 0 for c, _ in changes)} faster, {len(slower)} slower"
              + (": " + ", ".join(f"{k[0]} seq {k[1]} DIM {k[2]} {k[3]} B/c {c * 100:+.2f} %"
                                  for c, k in sorted(slower, reverse=True)) if slower else "")
              + ".")

    print("\nBandwidth sensitivity, DIM 16: estimated ms at " +
          ", ".join(f"{b}" for b in bws) + " B/cycle\n")
    print("| model | seq | " + " | ".join(f"{b} B/c" for b in bws) + " |")
    print("|---|---|" + "---|" * len(bws))
    keys = list(dict.fromkeys((r["model"], r["seq"]) for r in est if r["dim"] == "16"))
    for model, seq in keys:
        ms = {int(r["dram_bytes_per_cycle"]): float(r["latency_ms"]) for r in est
              if (r["model"], r["seq"], r["dim"]) == (model, seq, "16")}
        print(f"| {model} | {seq} | " + " | ".join(
            f"{ms[b]:.2f}" if b in ms else "-" for b in bws) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
