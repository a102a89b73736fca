"""``encore verilog``: write the Verilog of the accelerator's top level for one configuration."""

from __future__ import annotations

import argparse
from pathlib import Path

from isa import MachineConfig


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "verilog", help="generate the top-level Verilog (AXI4 master, AXI4-Lite slave, irq)",
        description="Generate the Encore top level as Verilog. Ports: dram__* (AXI4 master), "
        "ctrl__* (AXI4-Lite slave, register map in docs/rtl.md), irq, clk, rst.")
    p.add_argument("--dim", type=int, default=MachineConfig.dim, help="array size (DIM x DIM)")
    p.add_argument("--sp-kib", type=int, default=MachineConfig.sp_kib, help="scratchpad KiB")
    p.add_argument("--acc-kib", type=int, default=MachineConfig.acc_kib, help="accumulator KiB")
    p.add_argument("--dram-bytes", type=int, default=MachineConfig.dram_bytes_per_cycle,
                   help="AXI4 data width in bytes (power of two, 4..128)")
    p.add_argument("--queue-depth", type=int, default=MachineConfig.queue_depth)
    p.add_argument("--name", default="encore_top", help="Verilog module name")
    p.add_argument("-o", "--output", required=True, help="output .v file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hw.top import generate_verilog

    if not args.name.isidentifier():
        raise ValueError(f"--name {args.name!r} is not a valid Verilog identifier")
    cfg = MachineConfig(dim=args.dim, sp_kib=args.sp_kib, acc_kib=args.acc_kib,
                        dram_bytes_per_cycle=args.dram_bytes, queue_depth=args.queue_depth)
    out = Path(args.output)
    if out.parent and not out.parent.exists():
        raise ValueError(f"output folder {str(out.parent)!r} does not exist")
    text = generate_verilog(cfg, name=args.name)
    out.write_text(text)
    print(f"wrote {out} ({len(text.splitlines())} lines): {args.name}, DIM={cfg.dim}, "
          f"SP {cfg.sp_rows} rows, ACC {cfg.acc_rows} rows, "
          f"AXI {8 * cfg.dram_bytes_per_cycle} bits")
    return 0
