"""Kernel-boundary time of a compiled program (docs/timing.md, "The layer-scope SRAM planner",
the cross-kernel prefetch).

    .venv/bin/python benchmarks/kernel_gaps.py PROGRAM.encore [--bandwidth B] [-v]

Per layer span with a GEMM: the compute queue's idle cycles from the previous compute
instruction's finish to the span's first GEMM ("gap", by the timing model's per-instruction
schedule, ``sim.timing.schedule``), and how many of them the load queue spent on LOADs of the
span that read a tensor stored by one of the two spans before it ("dependent": the A tile that
must wait for its producer) or on other LOADs ("independent": weights, parameters, older
activations, what a prefetch can move ahead). Aggregated per kernel kind (the span name after
its layer prefix), with ``-v`` per span. Use it on the programs ``encore bench`` saves or
``encore compile`` writes; ``--bandwidth`` re-times at another DRAM bandwidth.
"""

from __future__ import annotations

import argparse
import bisect
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def kernel_gaps(prog, cfg) -> tuple[int, list[tuple[str, int, int, int]]]:
    """(cycles, [(span name, gap, dependent LOAD cycles, independent LOAD cycles)])."""
    from isa import Opcode, Queue
    from isa.opcodes import QUEUE_OF
    from sim.timing.schedule import schedule

    ins = prog.instructions
    s = schedule(ins, cfg, prog.dram_size)
    spans = prog.meta["layer_spans"]
    tensors = sorted((t.addr, t.name) for t in prog.tensors.values())
    starts = [a for a, _ in tensors]

    def tensor_at(addr: int) -> str:
        return tensors[bisect.bisect_right(starts, addr) - 1][1]

    stored_in: dict[str, set[int]] = defaultdict(set)
    for k, sp in enumerate(spans):
        for i in range(sp["start"], sp["end"]):
            if ins[i].op == Opcode.STORE:
                stored_in[tensor_at(ins[i].f["dram_addr"])].add(k)
    prev_compute, last = [None] * len(ins), None
    for i, x in enumerate(ins):
        prev_compute[i] = last
        if QUEUE_OF.get(x.op, Queue.COMPUTE) == Queue.COMPUTE and x.op != Opcode.NOP:
            last = i
    rows = []
    for k, sp in enumerate(spans):
        g = next((i for i in range(sp["start"], sp["end"]) if ins[i].op == Opcode.GEMM), None)
        if g is None or prev_compute[g] is None:
            continue
        lo, hi = int(s.finish[prev_compute[g]]), int(s.start[g])
        dep = indep = 0
        for i in range(sp["start"], g):
            if ins[i].op != Opcode.LOAD:
                continue
            busy = min(hi, int(s.finish[i])) - max(lo, int(s.start[i]))
            if busy <= 0:
                continue
            if stored_in[tensor_at(ins[i].f["dram_addr"])] & {k - 1, k - 2}:
                dep += busy
            else:
                indep += busy
        rows.append((sp["name"], max(0, hi - lo), dep, indep))
    return s.cycles, rows


def main(argv=None) -> int:
    from isa import Program

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("program", type=Path)
    p.add_argument("--bandwidth", type=int, help="DRAM bytes per cycle (default: the program's)")
    p.add_argument("-v", "--verbose", action="store_true", help="one line per span")
    args = p.parse_args(argv)
    prog = Program.load(args.program)
    cfg = prog.config if args.bandwidth is None else \
        prog.config.replace(dram_bytes_per_cycle=args.bandwidth)
    cycles, rows = kernel_gaps(prog, cfg)
    total, indep = sum(r[1] for r in rows), sum(r[3] for r in rows)
    print(f"{args.program.name} at {cfg.dram_bytes_per_cycle} B/cycle: {cycles:,} cycles; gaps "
          f"before first GEMMs {total:,} ({100 * total / cycles:.2f} %), of which independent "
          f"LOADs {indep:,} ({100 * indep / cycles:.2f} %)")
    agg: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for name, gap, dep, ind in rows:
        a = agg[name.split(".", 1)[-1]]
        a[0] += 1
        a[1] += gap
        a[2] += dep
        a[3] += ind
    for kind, (n, gap, dep, ind) in agg.items():
        print(f"  {kind:14s} x{n:4d}: gap {gap:12,}  dependent LOADs {dep:12,}  "
              f"independent LOADs {ind:12,}")
    if args.verbose:
        for name, gap, dep, ind in rows:
            print(f"    {name:20s} gap {gap:10,}  dependent {dep:10,}  independent {ind:10,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
