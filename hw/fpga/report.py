"""Reading the tools' reports (yosys ``stat -json``, the yosys log, nextpnr ``--report``), the
fit check, and the table of ``encore fpga``."""

from __future__ import annotations

import re

from .targets import RESOURCES, Target


class DoesNotFit(ValueError):
    """A configuration needs more of some resource than the device has."""


# LUT4s of the cells that use LUTs, as nextpnr-ecp5 counts them ("Total LUT4s"): a CCU2C carry
# cell is two, a TRELLIS_DPR16X4 LUT RAM four RAM LUTs and two write-port LUTs.
_ECP5_LUT = {"LUT4": 1, "CCU2C": 2, "TRELLIS_DPR16X4": 6}
_XILINX_LUTRAM = {"RAM32M": 4, "RAM32M16": 8, "RAM64M": 4, "RAM64M8": 8, "RAM32X1D": 2,
                  "RAM64X1D": 2, "RAM128X1D": 4, "RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2,
                  "RAM256X1S": 4, "SRL16E": 1, "SRLC32E": 1}


def cell_counts(stat: dict) -> dict[str, int]:
    """Cell type -> count of the whole design, from yosys ``stat -json -top TOP``: the
    ``design`` totals, in which every submodule's cells count once per instance. Those totals
    also list the top's own instances of submodules (e.g. ``encore_fpga.core: 1``) as cells:
    types that are modules of the design are left out (their cells are counted already)."""
    design = stat.get("design") or next(iter(stat["modules"].values()))
    counts = design.get("num_cells_by_type", {})
    modules = {m.removeprefix("\\") for m in stat.get("modules", {})}
    return {k: int(v) for k, v in counts.items() if k not in modules}


def synth_resources(cells: dict[str, int], target: Target) -> dict[str, int]:
    """Resource key -> count after synthesis (``RESOURCES``; Xilinx block RAM in RAMB36)."""
    if target.family == "ecp5":
        return {"lut": sum(n * cells.get(c, 0) for c, n in _ECP5_LUT.items()),
                "ff": sum(v for k, v in cells.items() if k.startswith("TRELLIS_FF")),
                "dsp": cells.get("MULT18X18D", 0), "bram": cells.get("DP16KD", 0),
                "lutram": cells.get("TRELLIS_DPR16X4", 0),
                "io": sum(v for k, v in cells.items() if k in ("TRELLIS_IO", "$_TBUF_"))}
    lutram = sum(n * cells.get(c, 0) for c, n in _XILINX_LUTRAM.items())
    return {"lut": sum(v for k, v in cells.items() if re.fullmatch(r"LUT[1-6]", k)) + lutram,
            "ff": sum(v for k, v in cells.items() if re.fullmatch(r"FD[RSCP]E(_1)?", k)),
            "dsp": sum(v for k, v in cells.items() if k.startswith("DSP48")),
            "bram": sum(v for k, v in cells.items() if k.startswith("RAMB36"))
            + sum(v for k, v in cells.items() if k.startswith("RAMB18")) / 2,
            "lutram": lutram,
            "io": sum(v for k, v in cells.items() if k in ("IBUF", "OBUF", "BUFG"))}


def pnr_resources(report: dict) -> dict[str, int]:
    """Resource key -> used, from nextpnr-ecp5's ``--report`` JSON (its own counts)."""
    util = report.get("utilization", {})
    key = {"lut": "TRELLIS_COMB", "ff": "TRELLIS_FF", "dsp": "MULT18X18D", "bram": "DP16KD",
           "lutram": "TRELLIS_RAMW", "io": "TRELLIS_IO"}
    return {k: util[v]["used"] for k, v in key.items() if v in util}


def fmax(report: dict) -> dict[str, dict]:
    """Clock -> {"achieved_mhz", "requested_mhz"} from nextpnr's report."""
    return {clk: {"achieved_mhz": round(v["achieved"], 2), "requested_mhz": v["constraint"]}
            for clk, v in report.get("fmax", {}).items()}


def placed_fmax(log_text: str, requested_mhz: float) -> dict[str, dict]:
    """Clock -> {"achieved_mhz", "requested_mhz", "placed": True}: nextpnr's post-placement
    estimate, from its log (its ``--report`` has no timing when it did not route)."""
    est = re.findall(r"Max frequency for clock '([^']*)': ([\d.]+) MHz", log_text)
    return {clk: {"achieved_mhz": float(f), "requested_mhz": requested_mhz, "placed": True}
            for clk, f in est}


def critical_paths(report: dict) -> list[dict]:
    """Each critical path's clocks, start and end cell and total delay (ns)."""
    out = []
    for p in report.get("critical_paths", []):
        steps = p.get("path", [])
        if not steps:
            continue
        out.append({"from_clock": p.get("from"), "to_clock": p.get("to"),
                    "start": f"{steps[0]['from']['cell']}.{steps[0]['from']['port']}",
                    "end": f"{steps[-1]['to']['cell']}.{steps[-1]['to']['port']}",
                    "delay_ns": round(sum(s.get("delay", 0.0) for s in steps), 3),
                    "logic_levels": sum(1 for s in steps if s.get("type") == "logic")})
    return out


def memory_mapping(log_text: str) -> dict[str, str]:
    """Memory -> how yosys ``memory_libmap`` built it ("FF" or the primitive)."""
    out = {}
    for line in log_text.splitlines():
        line = line.strip()
        if line.startswith("using FF mapping for memory "):
            out[line.removeprefix("using FF mapping for memory ").rstrip(".")] = "FF"
            continue
        mm = re.match(r"mapping memory (\S+) via (\S+)", line)
        if mm:
            out[mm.group(1)] = mm.group(2)
    return out


def check_fit(used: dict, target: Target, what: str) -> None:
    """Raise DoesNotFit naming each resource over the device's capacity."""
    over = [(k, used[k], target.available[k]) for k, _ in RESOURCES
            if used.get(k) is not None and target.available.get(k) is not None
            and used[k] > target.available[k]]
    if over:
        label = dict(RESOURCES)
        parts = [f"{label[k]} {u:g} > {a:g} {target.units[k]} ({u - a:g} over, "
                 f"{100 * u / a:.0f}%)" for k, u, a in over]
        raise DoesNotFit(f"does not fit {target.name} ({target.device}) {what}: "
                         + "; ".join(parts))


def utilisation_rows(used: dict, target: Target) -> list[dict]:
    rows = []
    for k, label in RESOURCES:
        u, a = used.get(k), target.available.get(k)
        rows.append({"resource": label, "unit": target.units[k], "used": u, "available": a,
                     "percent": round(100 * u / a, 1) if u is not None and a else None})
    return rows


def synthesis_of(r: dict) -> str:
    """How a report's netlist was synthesized: the Xilinx flow's options, or synth_ecp5."""
    if r["target"]["place_and_route"]:
        return "synth_ecp5"
    parts = [r.get("lut_mapper", "abc9"),
             "per module" if r.get("per_module") else
             "flat" if r.get("flatten", True) else "not flattened"]
    if r.get("shared_pe"):
        parts.append("shared PE")
    return ", ".join(parts)


def format_report(r: dict) -> str:
    def cell(v):
        return "-" if v is None else f"{v:g}" if isinstance(v, float) else str(v)

    t = r["target"]
    lines = [f"encore fpga: DIM {r['config']['dim']}, SP {r['config']['sp_kib']} KiB, "
             f"ACC {r['config']['acc_kib']} KiB, AXI {8 * r['config']['dram_bytes']} bits "
             f"on {t['name']} ({t['device']})"]
    if not t["place_and_route"]:
        lines.append("Xilinx: synthesis estimate only (yosys synth_xilinx); NO place and route "
                     f"ran, so there is no Fmax. Synthesis: {synthesis_of(r)}.")
    rows = [[x["resource"], x["unit"], cell(x["used"]), cell(x["available"]),
             "-" if x["percent"] is None else f"{x['percent']:.1f}%"] for x in r["resources"]]
    header = ["resource", "unit", "used", "available", "util"]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    for row in [header, ["-" * w for w in widths]] + rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    lines.append(f"({r['resources_from']})")
    mems = r.get("memories", {})
    if mems:
        lines.append("memories: " + ", ".join(f"{k} -> {v}" for k, v in mems.items()))
    for clk, f in r.get("fmax", {}).items():
        ok = "meets" if f["achieved_mhz"] >= f["requested_mhz"] else "FAILS"
        est = ", nextpnr's post-placement estimate: no routing ran" if f.get("placed") else ""
        lines.append(f"Fmax {clk}: {f['achieved_mhz']:.2f} MHz (requested "
                     f"{f['requested_mhz']:g} MHz: {ok}{est})")
    for p in r.get("critical_paths", [])[:1]:
        lines.append(f"critical path: {p['start']} -> {p['end']} ({p['delay_ns']} ns, "
                     f"{p['logic_levels']} logic levels)")
    runs = sorted(r.get("modules", []), key=lambda m: -m["wall_s"])
    if runs:
        lines.append(f"per module: {len(runs)} yosys runs; the longest: " + ", ".join(
            f"{m['module']} (x{m['instances']}) {m['wall_s']:g} s" for m in runs[:3])
            + (f"; peak memory of a run {max(m['peak_rss_mib'] for m in runs):,} MiB"
               if all("peak_rss_mib" in m for m in runs) else ""))
    lines.append("wall time: " + ", ".join(f"{k} {v:.1f} s" for k, v in r["wall_s"].items()))
    if r.get("cpu_s"):
        lines.append("CPU time: " + ", ".join(f"{k} {v:.1f} s" for k, v in r["cpu_s"].items()))
    if r.get("bitstream"):
        lines.append(f"bitstream: {r['bitstream']}")
    return "\n".join(lines)
