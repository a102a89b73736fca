"""FPGA resources of a machine configuration: measured FPGA reports where they exist, otherwise an
analytic model (fitted to the measured reports of the part's family when there are enough).

Measured reports (``--area-reports FILE``): a JSON list of objects
``{"dim", "sp_kib", "acc_kib", "dram_bytes", "target", "lut", "ff", "dsp", "bram", "fmax_mhz"}``
(``dram_bytes``: DRAM bytes per cycle, the AXI data width; ``bram``: block RAMs of the part's kind).
A point uses a report of its target with the same five configuration fields (source ``measured``).

Analytic model (source ``analytic``), one coefficient table per FPGA family in ``COEFFS``:
  LUT, FF, DSP = a * DIM^2 + b * DIM + c (+ FF for the instruction queues: 3 queues x depth x
  ``isa.INSTR_BITS``); the DIM^2 term is the PE array, the DIM term the vector lanes, c the
  controller, fetch, DMA and AXI. BRAM counts the block RAMs of the scratchpad (rows of DIM int8),
  the accumulator (rows of DIM int32) and the attention score buffer (max-seq x 32 bit), each
  shaped into the part's block aspect ratios (the cheapest one). fmax is a per-family constant.
The coefficients are first guesses, not measurements: once the FPGA flow has measured reports of
at least two array sizes of a family, ``fit`` refits a and c of LUT, FF and DSP by least squares
and every unmeasured point of that family uses them (source ``fitted``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from isa import INSTR_BITS

RESOURCES = ("lut", "ff", "dsp", "bram")


@dataclass(frozen=True)
class Part:
    name: str
    family: str
    lut: int
    ff: int
    dsp: int
    bram: int
    #: (depth, width) configurations of one block RAM.
    bram_shapes: tuple[tuple[int, int], ...]


_EBR = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))  # ECP5 18 Kbit
_RAMB36 = ((32768, 1), (16384, 2), (8192, 4), (4096, 9), (2048, 18), (1024, 36), (512, 72))

#: Part capacities from the vendors' data sheets (LUT4 on ECP5, LUT6 on Xilinx; DSP = ECP5
#: MULT18X18D or Xilinx DSP48; BRAM = ECP5 EBR (18 Kbit) or Xilinx RAMB36).
PARTS: dict[str, Part] = {p.name: p for p in (
    Part("ecp5-25k", "ecp5", 24288, 24288, 28, 56, _EBR),
    Part("ecp5-45k", "ecp5", 43848, 43848, 72, 108, _EBR),
    Part("ecp5-85k", "ecp5", 83640, 83640, 156, 208, _EBR),
    Part("xc7a100t", "xilinx-7", 63400, 126800, 240, 135, _RAMB36),
    Part("xc7a200t", "xilinx-7", 134600, 269200, 740, 365, _RAMB36),
    Part("xczu9eg", "ultrascale+", 274080, 548160, 2520, 912, _RAMB36),
)}
DEFAULT_PART = "ecp5-85k"

#: Analytic coefficients per family: resource -> (a per PE, b per vector lane, c fixed); fmax MHz.
#: One int8 multiplier per PE in a DSP block, a 32-bit accumulator and operand registers in LUTs
#: and FFs; a requantizing multiplier per vector lane. First guesses: refit with ``fit``.
COEFFS: dict[str, dict] = {
    "ecp5": {"lut": (60, 900, 9000), "ff": (56, 500, 7000), "dsp": (1, 2, 4), "fmax_mhz": 100.0},
    "xilinx-7": {"lut": (40, 600, 6000), "ff": (56, 500, 7000), "dsp": (1, 1, 4),
                 "fmax_mhz": 200.0},
    "ultrascale+": {"lut": (40, 600, 6000), "ff": (56, 500, 7000), "dsp": (1, 1, 4),
                    "fmax_mhz": 300.0},
}
MEASURED_KEYS = ("dim", "sp_kib", "acc_kib", "dram_bytes", "target")


def part(name: str) -> Part:
    if name not in PARTS:
        raise ValueError(f"--target {name!r} is not known: expected one of {', '.join(PARTS)}")
    return PARTS[name]


def memory_blocks(p: Part, depth: int, width: int) -> int:
    """Block RAMs for a ``depth x width``-bit memory: the cheapest block shape."""
    return min(math.ceil(width / w) * math.ceil(depth / d) for d, w in p.bram_shapes)


def bram_blocks(p: Part, point: dict) -> int:
    dim = point["dim"]
    sp_rows = point["sp-kib"] * 1024 // dim
    acc_rows = point["acc-kib"] * 1024 // (4 * dim)
    return (memory_blocks(p, sp_rows, 8 * dim) + memory_blocks(p, acc_rows, 32 * dim)
            + memory_blocks(p, point["max-seq"], 32))


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
    need = (*MEASURED_KEYS, *RESOURCES)
    for i, r in enumerate(data):
        missing = [k for k in need if not isinstance(r, dict) or k not in r]
        if missing:
            raise ValueError(f"--area-reports {str(path)!r} entry {i} lacks {', '.join(missing)}:"
                             f" expected {', '.join(need)} (and optionally fmax_mhz)")
        if r["target"] not in PARTS:
            raise ValueError(f"--area-reports entry {i}: target {r['target']!r} is not known: "
                             f"expected one of {', '.join(PARTS)}")
    return data


def fit(reports: list[dict], family: str) -> dict | None:
    """Coefficients refitted to the family's measured reports (a, c of LUT, FF, DSP with the
    lane term b kept), or None with fewer than two distinct array sizes."""
    import numpy as np

    rows = [r for r in reports if PARTS[r["target"]].family == family]
    if len({r["dim"] for r in rows}) < 2:
        return None
    base = COEFFS[family]
    out = dict(base)
    dims = np.array([r["dim"] for r in rows], dtype=float)
    for res in ("lut", "ff", "dsp"):
        b = base[res][1]
        y = np.array([r[res] for r in rows], dtype=float) - b * dims
        a, c = np.linalg.lstsq(np.stack([dims ** 2, np.ones_like(dims)], 1), y, rcond=None)[0]
        out[res] = (float(a), b, float(c))
    fmaxes = [r["fmax_mhz"] for r in rows if r.get("fmax_mhz")]
    if fmaxes:
        out["fmax_mhz"] = float(min(fmaxes))
    return out


class AreaModel:
    """Resources of points on one target part."""

    def __init__(self, target: str = DEFAULT_PART, reports: list[dict] | None = None):
        self.part = part(target)
        self.reports = [r for r in reports or [] if r["target"] == self.part.name]
        fitted = fit(reports or [], self.part.family)
        self.coeffs = fitted or COEFFS[self.part.family]
        self.analytic_source = "fitted" if fitted else "analytic"

    def _measured(self, point: dict) -> dict | None:
        key = (point["dim"], point["sp-kib"], point["acc-kib"], point["dram-bw"])
        for r in self.reports:
            if (r["dim"], r["sp_kib"], r["acc_kib"], r["dram_bytes"]) == key:
                return r
        return None

    def resources(self, point: dict) -> dict:
        """``{"lut", "ff", "dsp", "bram", "fmax_mhz", "area", "area_source"}``; ``area`` is the
        largest fraction of the part any resource takes."""
        m = self._measured(point)
        if m is not None:
            res = {k: int(m[k]) for k in RESOURCES}
            res["fmax_mhz"] = m.get("fmax_mhz")
            res["area_source"] = "measured"
        else:
            dim = point["dim"]
            res = {}
            for k in ("lut", "ff", "dsp"):
                a, b, c = self.coeffs[k]
                res[k] = max(0, round(a * dim * dim + b * dim + c))
            res["ff"] += 3 * point["queue-depth"] * INSTR_BITS
            res["bram"] = bram_blocks(self.part, point)
            res["fmax_mhz"] = self.coeffs["fmax_mhz"]
            res["area_source"] = self.analytic_source
        res["area"] = max(res[k] / getattr(self.part, k) for k in RESOURCES)
        return res

    def budget_violations(self, point: dict, res: dict, budget: dict[str, float]) -> list[str]:
        """Why a point does not fit: resources over the budget (default: the part's capacity),
        or a clock above fmax."""
        out = []
        for k in RESOURCES:
            cap = budget.get(k, getattr(self.part, k))
            if res[k] > cap:
                out.append(f"{k} {res[k]} > {cap:g}")
        if "area" in budget and res["area"] > budget["area"]:
            out.append(f"area {res['area']:.3f} > {budget['area']:g}")
        fmax = budget.get("fmax_mhz", res.get("fmax_mhz"))
        if fmax and point["clock-mhz"] > fmax:
            out.append(f"clock {point['clock-mhz']:g} MHz > fmax {fmax:g} MHz")
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
