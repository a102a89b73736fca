"""`encore run`: compile a model, simulate it bit-exactly, compare with PyTorch FP32."""

from __future__ import annotations

import sys

import numpy as np

from compiler.models import NAMED
from encore.clock import add_clock_args, clock_from_args

from ._common import add_act_bits_arg, add_machine_args, machine_from_args, save_outputs, write_json


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="compile + simulate + compare with PyTorch",
                       description="Compile a model, run it on the functional simulator and "
                       "compare it with the PyTorch FP32 model.")
    p.add_argument("--model", required=True,
                   help=f"one of {', '.join(NAMED)}, or a local Hugging Face model folder")
    p.add_argument("--text", action="append", help="input text (repeat for a batch); "
                   "default: 16 built-in sentences")
    p.add_argument("--seq", type=int, help="sequence length (default: longest input, or 128)")
    p.add_argument("--batch", type=int, help="batch of random inputs for models without tokenizer")
    p.add_argument("--seed", type=int, default=0, help="seed of random weights / token ids")
    p.add_argument("--json", metavar="PATH", help="write the report as JSON")
    p.add_argument("--save-outputs", metavar="PATH.npz", help="write hidden states, ids, mask")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--padded", action="store_true",
                   help="pad every input to --seq (default: unpadded, packed real tokens)")
    p.add_argument("--no-cache", action="store_true",
                   help="recalibrate and requantize instead of reading the quantized-model cache "
                        "($ENCORE_CACHE_DIR, default ~/.cache/encore)")
    add_clock_args(p)
    add_act_bits_arg(p)
    add_machine_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from encore.api import run_model
    from encore.classify import format_classification
    from encore.report import format_report

    config = machine_from_args(args)
    clock = clock_from_args(args, config)
    res = run_model(args.model, texts=args.text, seq=args.seq, batch=args.batch,
                    config=config, seed=args.seed, clock_mhz=clock.mhz, clock_source=clock.source,
                    progress=not args.no_progress and sys.stderr.isatty(),
                    log=lambda m: print(m, file=sys.stderr), padded=args.padded,
                    cache=not args.no_cache, act_bits=args.act_bits)
    print(format_report(res.report))
    print(format_tokens(res.report))
    if "classification" in res.report:
        print()
        print(format_classification(res.report["classification"],
                                    [x["text"] for x in res.report["inputs"]]))
    if args.json:
        write_json(args.json, res.report)
    if args.save_outputs:
        save_outputs(args.save_outputs, res.hidden_states, res.input_ids, res.attention_mask)
        if "logits" in res.extra:
            with np.load(args.save_outputs) as data:
                arrays = dict(data)
            np.savez(args.save_outputs, **arrays, logits=res.extra["logits"])
    return 0


def format_tokens(r: dict) -> str:
    t, tm = r["tokens"], r["timing"]
    useful = tm["useful_macs"]
    return (f"Tokens ({t['mode']}): {t['real']:,} real of {t['slots']:,} computed slots, "
            f"{t['padding_slots']:,} padding slots, {t['padded_slots_avoided']:,} padded slots "
            f"avoided; useful MACs {useful:,} of {tm['macs']:,} array MACs "
            f"({tm['macs'] - useful:,} not useful)")
