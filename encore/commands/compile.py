"""`encore compile`: model -> program file."""

from __future__ import annotations

import sys
from pathlib import Path

from compiler.models import NAMED

from ._common import add_act_bits_arg, add_machine_args, machine_from_args


def add_parser(sub) -> None:
    p = sub.add_parser("compile", help="compile a model to a program file")
    p.add_argument("--model", required=True,
                   help=f"one of {', '.join(NAMED)}, or a local Hugging Face model folder")
    p.add_argument("--seq", type=int, default=None,
                   help="sequence length (default 128, or the longest of --lengths)")
    p.add_argument("--batch", type=int, default=None, help="sequences per run (default 1)")
    p.add_argument("--lengths", type=int, nargs="+", metavar="N",
                   help="compile an unpadded program for sequences of these real lengths (the "
                   "tokens packed, docs/architecture.md \"Serving\"); its inputs must have "
                   "exactly these lengths, right-padded to --seq")
    p.add_argument("--seed", type=int, default=0, help="seed of random weights")
    p.add_argument("-o", "--output", required=True, metavar="PROGRAM.encore")
    add_act_bits_arg(p)
    add_machine_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from compiler import compile_model

    lengths = args.lengths
    if lengths is not None and args.batch is not None and args.batch != len(lengths):
        raise ValueError(f"--batch {args.batch} disagrees with the {len(lengths)} --lengths: "
                         "give one length per sequence (--batch may then be left out)")
    seq = args.seq if args.seq is not None else (max(lengths) if lengths else 128)
    cm = compile_model(args.model, machine_from_args(args), seq_len=seq,
                       batch=args.batch or 1, lengths=lengths, padded=lengths is None,
                       seed=args.seed, log=lambda m: print(m, file=sys.stderr),
                       act_bits=args.act_bits)
    cm.program.meta["tokenizer_source"] = args.model if cm.loaded.tokenizer is not None else None
    # Where `encore rtl` (and any later run) finds the PyTorch model for the accuracy check.
    folder = Path(args.model)
    cm.program.meta["model_source"] = str(folder.resolve()) if folder.is_dir() else args.model
    cm.program.save(args.output)
    prog = cm.program
    print(f"wrote {args.output}: {len(prog.instructions)} instructions, "
          f"{len(prog.dram_init) / 2**20:.1f} MiB DRAM image; "
          + ", ".join(f"{k} {v}" for k, v in prog.opcode_histogram().items()))
    return 0
