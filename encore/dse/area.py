"""FPGA resources of a machine configuration: measured FPGA results where they exist, otherwise a
model fitted to them, otherwise the analytic model.

Targets are those of ``encore fpga`` (``hw.fpga.targets.TARGETS``: capacities, block-RAM shapes).

Measured reports (``--area-reports FILE``, a JSON list; benchmarks/dse_area.py writes them):
  * a whole accelerator: ``{"dim", "sp_kib", "acc_kib", "dram_bytes", "target", "lut", "ff",
    "dsp", "bram"[, "fmax_mhz"]}``, or the ``--json`` report of ``encore fpga`` itself; counts as
    ``encore fpga`` makes them after synthesis. It stands for every target of its family (yosys
    maps the same cells for an ECP5-25k and an 85k): a point with the same DIM, SP, ACC and DRAM
    width uses it (``area_source`` "measured");
  * one processing element: ``{"kind": "pe", "family", "psum_width", "lut", "ff", "dsp"}``.

Model of an unmeasured point, per family (``COEFFS``): LUT, FF, DSP = a * DIM^2 + b * DIM + c,
plus, for FF, the three instruction queues (3 x depth x ``isa.INSTR_BITS``). The DIM^2 term is the
PE array: ``a`` is the measured PE of the point's partial-sum width when a PE report exists, else
the prior; ``b`` the vector lanes, ``c`` the controller, fetch, DMA, AXI and the FPGA shell. With
whole-accelerator reports of the family, ``c`` (one array size) or ``b`` and ``c`` (two or more,
least squares) are fitted to them, after taking off the PE array and the queues (source
"fitted"); without, the priors (source "analytic"). Block RAM: ``hw.fpga.targets.bram_estimate``
(the replicated SRAM banks, as ``encore fpga`` checks before synthesis) plus the attention
engine's score buffer (max-seq x 33 bits). fmax: the lowest measured one of the family, else a
per-target prior (``FMAX_MHZ``; no Fmax has been measured yet).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from hw.fpga.targets import TARGETS, Target, bram_estimate
from isa import INSTR_BITS, MachineConfig

RESOURCES = ("lut", "ff", "dsp", "bram")
DEFAULT_PART = "ecp5-85k"
PARTS = TARGETS
#: Bits per entry of the attention engine's score buffer (hw/attention.py: {valid, F}).
SCORE_BITS = 33

#: Priors: resource -> (a per PE, b per vector lane, c fixed). a: what one PE synthesizes to
#: (benchmarks/dse_area.py pe: an int8 multiply in one MULT18X18D / DSP48, the partial-sum adder,
#: two weight registers). ECP5 b and c: the fit to the two measured whole accelerators of
#: benchmarks/dse_area_reports.json (DIM 4 and 8, rounded); Xilinx: the same, LUTs x 2/3 for
#: 6-input LUTs (a guess: no whole-accelerator Xilinx synthesis is measured). Fits replace b, c.
COEFFS: dict[str, dict] = {
    "ecp5": {"lut": (30, 5655, 18459), "ff": (45, 2513, 0), "dsp": (1, 34, 20)},
    "xilinx": {"lut": (10, 3770, 12300), "ff": (25, 2513, 0), "dsp": (1, 34, 20)},
}
FMAX_MHZ = {"ecp5": 100.0, "xilinx-xc7": 200.0, "xilinx-xcup": 300.0}
DESIGN_KEYS = ("dim", "sp_kib", "acc_kib", "dram_bytes", "target")
PE_KEYS = ("family", "psum_width", "lut", "ff", "dsp")


def part(name: str) -> Target:
    if name not in TARGETS:
        raise ValueError(f"--target {name!r} is not known: expected one of {', '.join(TARGETS)}")
    return TARGETS[name]


def memory_blocks(t: Target, depth: int, width: int) -> int:
    """Block RAMs for a ``depth x width``-bit memory: the cheapest block shape."""
    return min(math.ceil(width / w) * math.ceil(depth / d) for d, w in t.bram_shapes)


def bram_blocks(t: Target, point: dict) -> int:
    cfg = MachineConfig(dim=point["dim"], sp_kib=point["sp-kib"], acc_kib=point["acc-kib"])
    return sum(bram_estimate(cfg, t).values()) + memory_blocks(t, point["max-seq"], SCORE_BITS)


def _queue_ff(depth: int) -> int:
    return 3 * depth * INSTR_BITS


def _from_fpga_json(r: dict) -> dict:
    """An ``encore fpga --json`` report as a design report (its synthesis counts)."""
    c = r["config"]
    return {**{k: c[k] for k in ("dim", "sp_kib", "acc_kib", "dram_bytes")},
            "target": r["target"]["name"], **r["synth_resources"],
            "fmax_mhz": r.get("fmax_mhz")}


def load_reports(path: str | Path) -> list[dict]:
    """Measured FPGA reports (format in this module's docstring); clear errors for bad files."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--area-reports {str(path)!r} does not exist")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"--area-reports {str(path)!r} is not JSON: {e}") from None
    if isinstance(data, dict):
        data = [data]
    out = []
    for i, r in enumerate(data):
        if isinstance(r, dict) and "config" in r and "synth_resources" in r:
            r = _from_fpga_json(r)
        pe = isinstance(r, dict) and r.get("kind") == "pe"
        need = PE_KEYS if pe else (*DESIGN_KEYS, *RESOURCES)
        missing = [k for k in need if not isinstance(r, dict) or k not in r]
        if missing:
            raise ValueError(f"--area-reports {str(path)!r} entry {i} lacks {', '.join(missing)}:"
                             f" expected {', '.join(need)} (format: encore/dse/area.py)")
        if pe and r["family"] not in COEFFS:
            raise ValueError(f"--area-reports entry {i}: family {r['family']!r} is not known: "
                             f"expected one of {', '.join(COEFFS)}")
        if not pe and r["target"] not in TARGETS:
            raise ValueError(f"--area-reports entry {i}: target {r['target']!r} is not known: "
                             f"expected one of {', '.join(TARGETS)}")
        out.append(r)
    return out


def _designs(reports: list[dict], family: str) -> list[dict]:
    return [r for r in reports if r.get("kind") != "pe" and TARGETS[r["target"]].family == family]


def fit(reports: list[dict], family: str) -> dict | None:
    """Coefficients fitted to the family's whole-accelerator reports (``b`` and ``c`` with two or
    more array sizes, ``c`` alone with one), or None without any. ``a`` stays as ``per_pe``
    gives it."""
    import numpy as np

    rows = _designs(reports, family)
    if not rows:
        return None
    prior = COEFFS[family]
    pes = _pe_table(reports, family)
    out = {}
    dims = np.array([r["dim"] for r in rows], dtype=float)
    for res in ("lut", "ff", "dsp"):
        y = np.array([r[res] - _pe_term(pes, prior, res, r["dim"])
                      - (_queue_ff(MachineConfig.queue_depth) if res == "ff" else 0)
                      for r in rows], dtype=float)
        a, b = prior[res][0], prior[res][1]
        if len(set(dims)) >= 2:
            b, c = np.linalg.lstsq(np.stack([dims, np.ones_like(dims)], 1), y, rcond=None)[0]
        else:
            c = float(np.mean(y - b * dims))
        out[res] = (a, float(b), float(c))
    fmaxes = [r["fmax_mhz"] for r in rows if r.get("fmax_mhz")]
    if fmaxes:
        out["fmax_mhz"] = float(min(fmaxes))
    return out


def _pe_table(reports: list[dict], family: str) -> dict[int, dict]:
    return {r["psum_width"]: r for r in reports if r.get("kind") == "pe" and r["family"] == family}


def _pe_term(pes: dict, coeffs: dict, res: str, dim: int) -> float:
    """The PE array's ``res``: DIM^2 x the measured PE of this partial-sum width, else the prior."""
    from hw.array import psum_width

    pe = pes.get(psum_width(dim))
    return dim * dim * (pe[res] if pe else coeffs[res][0])


class AreaModel:
    """Resources of points on one target."""

    def __init__(self, target: str = DEFAULT_PART, reports: list[dict] | None = None):
        self.part = part(target)
        family = self.part.family
        reports = reports or []
        self.designs = _designs(reports, family)
        self.pes = _pe_table(reports, family)
        fitted = fit(reports, family)
        self.coeffs = {**COEFFS[family], **(fitted or {})}
        self.fmax_mhz = self.coeffs.get("fmax_mhz", FMAX_MHZ.get(target, FMAX_MHZ.get(family)))
        self.analytic_source = "fitted" if fitted else "analytic"

    def _measured(self, point: dict) -> dict | None:
        key = (point["dim"], point["sp-kib"], point["acc-kib"], point["dram-bw"])
        for r in self.designs:
            if (r["dim"], r["sp_kib"], r["acc_kib"], r["dram_bytes"]) == key:
                return r
        return None

    def resources(self, point: dict) -> dict:
        """``{"lut", "ff", "dsp", "bram", "fmax_mhz", "area", "area_source"}``; ``area`` is the
        largest fraction of the part any resource takes."""
        m = self._measured(point)
        if m is not None:
            res = {k: int(m[k]) for k in RESOURCES}
            res["fmax_mhz"] = m.get("fmax_mhz") or self.fmax_mhz
            res["area_source"] = "measured"
        else:
            dim = point["dim"]
            res = {}
            for k in ("lut", "ff", "dsp"):
                _, b, c = self.coeffs[k]
                res[k] = max(0, round(_pe_term(self.pes, self.coeffs, k, dim) + b * dim + c))
            res["ff"] += _queue_ff(point["queue-depth"])
            res["bram"] = bram_blocks(self.part, point)
            res["fmax_mhz"] = self.fmax_mhz
            res["area_source"] = self.analytic_source
        res["area"] = max(res[k] / self.part.available[k] for k in RESOURCES)
        return res

    def budget_violations(self, point: dict, res: dict, budget: dict[str, float]) -> list[str]:
        """Why a point does not fit: resources over the budget (default: the part's capacity),
        a clock above fmax, or a configuration the RTL cannot build (hw.top.check_config)."""
        from hw.top import check_config

        out = []
        for k in RESOURCES:
            cap = budget.get(k, self.part.available[k])
            if res[k] > cap:
                out.append(f"{k} {res[k]} > {cap:g}")
        if "area" in budget and res["area"] > budget["area"]:
            out.append(f"area {res['area']:.3f} > {budget['area']:g}")
        fmax = budget.get("fmax_mhz", res.get("fmax_mhz"))
        if fmax and point["clock-mhz"] > fmax:
            out.append(f"clock {point['clock-mhz']:g} MHz > fmax {fmax:g} MHz")
        try:
            check_config(MachineConfig(dim=point["dim"],
                                       dram_bytes_per_cycle=point["dram-bw"]))
        except ValueError as e:
            out.append(f"RTL cannot build it: {e}")
        return out


BUDGET_KEYS = (*RESOURCES, "area", "fmax_mhz")


def parse_budget(items: list[str] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        name = name.strip().lower().replace("-", "_")
        if name == "fmax":
            name = "fmax_mhz"
        if not sep or name not in BUDGET_KEYS:
            raise ValueError(f"--budget {item!r} is not RESOURCE=N with RESOURCE one of "
                             "lut, ff, dsp, bram, area (fraction of the part), fmax (MHz)")
        try:
            v = float(value)
        except ValueError:
            raise ValueError(f"--budget {item!r}: {value!r} is not a number") from None
        if v <= 0:
            raise ValueError(f"--budget {item!r}: expected a number > 0")
        out[name] = v
    return out
