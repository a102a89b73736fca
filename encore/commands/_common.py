"""Options shared by several subcommands."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from isa import MachineConfig


def add_machine_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("machine")
    d = MachineConfig()
    g.add_argument("--dim", type=int, default=d.dim, help=f"systolic array size (default {d.dim})")
    g.add_argument("--sp-kib", type=int, default=d.sp_kib, help="scratchpad KiB")
    g.add_argument("--acc-kib", type=int, default=d.acc_kib, help="accumulator KiB")
    g.add_argument("--dram-bw", type=int, default=d.dram_bytes_per_cycle,
                   help="DRAM bytes per cycle")
    g.add_argument("--max-seq", type=int, default=d.max_seq,
                   help="attention engine score buffer (keys)")


def add_act_bits_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--act-bits", type=int, choices=(8, 16), default=None,
                   help="activation width: 16 (default) runs the LayerNorm and GELU outputs as "
                   "16-bit activations (two int8 planes, docs/isa.md), 8 every activation int8 "
                   "(docs/architecture.md \"Short inputs\")")


def machine_from_args(args) -> MachineConfig:
    return MachineConfig(dim=args.dim, sp_kib=args.sp_kib, acc_kib=args.acc_kib,
                         dram_bytes_per_cycle=args.dram_bw, max_seq=args.max_seq)


def write_json(path: str, data: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=2))
    print(f"wrote {path}", file=sys.stderr)


def save_outputs(path: str, hidden, ids, mask) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, hidden_states=np.asarray(hidden, dtype=np.float32), input_ids=ids,
             attention_mask=mask)
    print(f"wrote {path}", file=sys.stderr)
