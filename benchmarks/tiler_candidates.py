"""The tiler's candidates for the linear layers of an encoder, priced by its cost model
(compiler/tile_cost.py) and by the timing model (sim.timing.estimate), each layer alone on
stand-in tensors, with the fixed rule's plan and the chosen one marked.

    .venv/bin/python benchmarks/tiler_candidates.py [--hidden 768 --ffn 3072 --rows 128]
        [--dims 8 16 32 64] [--bandwidths 16 64]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from compiler.emitter import Emitter
from compiler.lower_linear import _emit, _stand_ins, candidates, plan
from compiler.tile_cost import stream_cycles
from isa import MachineConfig, Program
from sim.timing import estimate


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, default=768)
    ap.add_argument("--ffn", type=int, default=3072)
    ap.add_argument("--rows", type=int, default=128, help="M: tokens of the batch")
    ap.add_argument("--dims", type=int, nargs="+", default=[8, 16, 32, 64])
    ap.add_argument("--bandwidths", type=int, nargs="+", default=[16, 64])
    args = ap.parse_args()
    h, f, m = args.hidden, args.ffn, args.rows
    layers = {"qkv": (h, 3 * h, "requant"), "proj_ln": (h, h, "resadd_ln"),
              "ffn1_gelu": (h, f, "gelu"), "ffn2_ln": (f, h, "resadd_ln")}
    worst = 0.0
    print("| DIM | B/cycle | layer | candidates | fixed rule (rows, K chunk, group, A bufs): "
          "cycles | chosen: cycles | fastest by the timing model | cost model error (max) |")
    print("|---|---|---|---|---|---|---|---|")
    for dim in args.dims:
        for bw in args.bandwidths:
            cfg = MachineConfig(dim=dim, dram_bytes_per_cycle=bw)
            for name, (k, n, kind) in layers.items():
                kb, nb = -(-k // dim), -(-n // dim)
                chosen = replace(plan(cfg, m, [kb], nb, kind), cycles=0)
                rows = []
                for pl in candidates(cfg, m, [kb], nb, kind):
                    terms, out, ep = _stand_ins(cfg, m, (kb,), nb, kind, False)
                    em = Emitter()
                    _emit(em, cfg, terms, out, ep, pl)
                    stream = em.finish()
                    prog = Program(config=cfg, instructions=stream, dram_init=b"",
                                   dram_size=1 << 31, tensors={}, meta={})
                    rows.append((pl, stream_cycles(stream, cfg), estimate(prog).cycles))
                err = max(abs(c - t) / t for _, c, t in rows)
                worst = max(worst, err)
                tag = lambda p: f"({p.m_tile}, {p.k_chunk}, {p.n_group}, {p.a_buffers})"  # noqa: E731
                rule = rows[0]
                pick = next(r for r in rows if r[0] == chosen)
                best = min(rows, key=lambda r: r[2])
                print(f"| {dim} | {bw} | {name} | {len(rows)} | {tag(rule[0])}: {rule[2]:,} | "
                      f"{tag(pick[0])}: {pick[2]:,} | {tag(best[0])}: {best[2]:,} | "
                      f"{err * 100:.2f} % |")
    print(f"\nlargest cost-model error against the timing model: {worst * 100:.2f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
