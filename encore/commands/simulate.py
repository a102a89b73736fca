"""`encore simulate`: run a program file on the functional simulator."""

from __future__ import annotations

import sys
import time

import numpy as np

from encore.clock import add_clock_args, clock_from_args

from ._common import save_outputs, write_json


def add_parser(sub) -> None:
    p = sub.add_parser("simulate", help="run a program file on the functional simulator")
    p.add_argument("program", metavar="PROGRAM.encore")
    p.add_argument("--text", action="append", help="input text (needs the model's tokenizer)")
    p.add_argument("--inputs", metavar="NPZ", help="npz with input_ids and attention_mask")
    p.add_argument("--seed", type=int, default=0, help="seed of random token ids")
    add_clock_args(p)
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--save-outputs", metavar="PATH.npz")
    p.set_defaults(func=run)


def model_inputs(args, prog):
    """(input_ids, attention_mask) of a model program: --inputs NPZ, --text, or seeded random."""
    meta = prog.meta
    if "arch" not in meta:
        raise ValueError(f"{args.program} is not a model program (its header has no meta.arch): "
                         "encore simulate runs programs written by encore compile")
    b, t = meta["batch"], meta["seq"]
    if args.inputs:
        try:
            data = np.load(args.inputs)
            ids, mask = data["input_ids"], data["attention_mask"]
        except (OSError, KeyError, ValueError) as e:
            raise ValueError(f"--inputs {args.inputs}: expected an npz with input_ids and "
                             f"attention_mask ({e})") from None
        return ids, mask
    if args.text:
        src = meta.get("tokenizer_source")
        if not src:
            raise ValueError("this program's model has no tokenizer: use --inputs or no --text")
        from compiler.models import load_model
        from encore.host import tokenize

        ids, mask = tokenize(load_model(src).tokenizer, args.text, t)
        if ids.shape[0] != b:
            raise ValueError(f"the program was compiled for batch {b}, got {ids.shape[0]} texts")
        return ids, mask
    from encore.inputs import random_ids

    ids, mask = random_ids(meta["vocab"], b, t, meta["pad_id"], args.seed)
    if not meta.get("padded", True):  # an unpadded program: the lengths it was compiled for
        mask = (np.arange(t)[None, :] < np.asarray(meta["lengths"])[:, None]).astype(np.int64)
        ids = np.where(mask == 1, ids, meta["pad_id"])
    return ids, mask


def run(args) -> int:
    from encore.api import timing_section
    from encore.host import run_functional
    from isa import Program

    prog = Program.load(args.program)
    clock = clock_from_args(args, prog.config)
    ids, mask = model_inputs(args, prog)
    t = time.perf_counter()
    _, stats, layers = run_functional(prog, ids, mask)
    wall = time.perf_counter() - t
    report = {"program": args.program, "instructions": stats.instructions,
              "by_opcode": stats.by_opcode, "array_macs": stats.macs,
              "dram_read": stats.dram_read, "dram_written": stats.dram_written,
              "wall_s": {"simulate": wall}}
    timing = timing_section(prog, clock.mhz, clock_source=clock.source)
    report["timing"] = timing
    print(f"simulated {stats.instructions} instructions in {wall:.2f}s "
          f"({stats.macs / 1e9:.2f} G array MACs, {stats.dram_read / 2**20:.1f} MiB read, "
          f"{stats.dram_written / 2**20:.1f} MiB written)")
    if timing:
        print(f"timing model: {timing['cycles']:,} cycles, {timing['latency_ms']:.3f} ms at "
              f"{timing['clock_mhz']:g} MHz, utilization {timing['utilization']:.3f}")
        print(f"clock {clock.mhz:g} MHz: {clock.source}")
        if "roofline" in timing:
            r = timing["roofline"]
            print(f"roofline bound: {r['cycles']:,} cycles = {r['ms']:.3f} ms ({r['bound']}-bound)"
                  f", estimate / bound {r['ratio']:.3f}")
    if args.json:
        write_json(args.json, report)
    if args.save_outputs:
        save_outputs(args.save_outputs, layers[-1], ids, mask)
    print("done", file=sys.stderr)
    return 0
