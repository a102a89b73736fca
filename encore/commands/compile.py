"""`encore compile`: model -> program file."""

from __future__ import annotations

import sys
from pathlib import Path

from compiler.models import NAMED

from ._common import add_machine_args, machine_from_args


def add_parser(sub) -> None:
    p = sub.add_parser("compile", help="compile a model to a program file")
    p.add_argument("--model", required=True,
                   help=f"one of {', '.join(NAMED)}, or a local Hugging Face model folder")
    p.add_argument("--seq", type=int, default=128, help="sequence length (default 128)")
    p.add_argument("--batch", type=int, default=1, help="sequences per run (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of random weights")
    p.add_argument("-o", "--output", required=True, metavar="PROGRAM.encore")
    add_machine_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from compiler import compile_model

    cm = compile_model(args.model, machine_from_args(args), seq_len=args.seq, batch=args.batch,
                       seed=args.seed, log=lambda m: print(m, file=sys.stderr))
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
