"""Markdown tables of an ``encore bench`` run, for benchmarks/README.md.

    .venv/bin/python benchmarks/latency_table.py [results/bench] [--bandwidth 16]

Table 1: every model x seq x DIM at one DRAM bandwidth, estimate beside the ideal bound and
PyTorch on this CPU. Table 2: bandwidth sensitivity at DIM 16.
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path, nargs="?", default=Path("results/bench"))
    ap.add_argument("--bandwidth", type=int, default=16)
    args = ap.parse_args()
    est = _read(args.folder / "estimates.csv")
    if not est:
        ap.error(f"{args.folder / 'estimates.csv'} is missing or empty: run `encore bench` first")
    torch = {(r["model"], r["seq"]): r for r in _read(args.folder / "torch.csv")}
    meta = args.folder / "bench.json"
    clock = json.loads(meta.read_text())["clock_mhz"] if meta.is_file() else "?"
    print(f"DRAM {args.bandwidth} B/cycle, clock {clock} MHz; PyTorch: batch 1, median wall "
          "time on this machine's CPU.\n")
    print("| model | seq | DIM | est. ms | ideal ms (MACs/DIM²) | MAC util. | "
          "PyTorch FP32 ms | PyTorch int8 (dynamic) ms |")
    print("|---|---|---|---|---|---|---|---|")
    for r in est:
        if int(r["dram_bytes_per_cycle"]) != args.bandwidth:
            continue
        t = torch.get((r["model"], r["seq"]))
        fp = f"{float(t['fp32_ms']):.1f}" if t else "-"
        i8 = f"{float(t['int8_dynamic_ms']):.1f}" if t else "-"
        print(f"| {r['model']} | {r['seq']} | {r['dim']} | {float(r['latency_ms']):.2f} | "
              f"{float(r['ideal_ms']):.2f} | {float(r['utilization']):.3f} | {fp} | {i8} |")
    bws = sorted({int(r["dram_bytes_per_cycle"]) for r in est})
    print("\nBandwidth sensitivity, DIM 16: estimated ms at " +
          ", ".join(f"{b}" for b in bws) + " B/cycle\n")
    print("| model | seq | " + " | ".join(f"{b} B/c" for b in bws) + " |")
    print("|---|---|" + "---|" * len(bws))
    keys = list(dict.fromkeys((r["model"], r["seq"]) for r in est if r["dim"] == "16"))
    for model, seq in keys:
        ms = {int(r["dram_bytes_per_cycle"]): float(r["latency_ms"]) for r in est
              if (r["model"], r["seq"], r["dim"]) == (model, seq, "16")}
        print(f"| {model} | {seq} | " + " | ".join(f"{ms[b]:.2f}" for b in bws) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
