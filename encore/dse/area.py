"""FPGA resources of a machine configuration: measured FPGA results where they exist, otherwise a
model fitted to them, otherwise the analytic model.

Targets are those of ``encore fpga`` (``hw.fpga.targets.TARGETS``: capacities, block-RAM shapes).

Measured reports (``--area-reports FILE``, a JSON list; benchmarks/dse_area.py writes them):
  * a whole accelerator: ``{"dim", "sp_kib", "acc_kib", "dram_bytes", "target", "lut", "ff",
    "dsp", "bram"[, "fmax_mhz", "rtl", "stale"]}``, or the ``--json`` report of ``encore fpga``
    itself; counts as ``encore fpga`` makes them after synthesis. It stands for every target of
    its family (yosys maps the same cells for an ECP5-25k and an 85k): a point with the same DIM,
    SP, ACC and DRAM width uses it (``area_source`` "measured"). ``stale`` (why) marks a report
    of an older RTL: kept for the record and for the lane slope below, never used as a point;
  * one processing element: ``{"kind": "pe", "family", "psum_width", "lut", "ff", "dsp"}``.

Model of an unmeasured point, per family (``COEFFS``): resource = a * DIM^2 + b * DIM + c, plus,
for FF, the three instruction queues (3 x depth x ``isa.INSTR_BITS``). The DIM^2 term is the PE
array: ``a`` is the measured PE of the point's partial-sum width when a PE report exists, else
the prior. **Multipliers** come from the design itself: the PE's product (measured: one DSP),
``b`` = the shared multiplier bank's DSP-sized pieces per lane (``hw.mulbank.MUL_SLOTS``, each
operand split as ``hw.mulbank.product`` splits it: 14), ``c`` = the scalar products and word
checks, fitted to the current whole-accelerator reports (what is left of the measured count).
**LUT, FF**: ``b`` the vector lanes, ``c`` the controller, fetch, DMA, AXI and the FPGA shell;
with current reports of two or more array sizes ``b`` and ``c`` are fitted (least squares),
with one ``c`` is fitted and ``b`` is the slope of the stale reports' sizes if they have two
(the RTL before the multiplier bank: say so), else the prior. Source "fitted"; without current
reports of the family, the priors (source "analytic"); a Xilinx model without Xilinx reports
takes the ECP5 fit with LUTs x ``LUT6_PER_LUT4`` (a guess for 6-input LUTs). Block RAM:
``hw.fpga.targets.bram_estimate`` (the replicated SRAM banks, as ``encore fpga`` checks before
synthesis) plus the attention engine's own memories (``hw.attention.buffer_shapes``: four
score banks of max-seq x 33 bits, the query row, the key mask) and the LAYERNORM row
buffer (``hw.vector.layernorm.row_buffer_shape``). fmax: the lowest measured one of the family,
else a per-target prior (``FMAX_MHZ``; no Fmax has been measured yet).
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

from hw.fpga.targets import TARGETS, Target, bram_estimate
from isa import INSTR_BITS, MachineConfig

RESOURCES = ("lut", "ff", "dsp", "bram")
DEFAULT_PART = "ecp5-85k"
PARTS = TARGETS

#: Xilinx LUTs per ECP5 LUT4 of the same logic (a guess: no whole-accelerator Xilinx synthesis).
LUT6_PER_LUT4 = 2 / 3
#: Priors: resource -> (a per PE, b per vector lane, c fixed); ``b`` of "dsp" is None: always the
#: bank's pieces per lane (``bank_multipliers_per_lane``). a: what one PE synthesizes to
#: (benchmarks/dse_area.py pe: an int8 multiply in one MULT18X18D / DSP48, the partial-sum adder,
#: two weight registers). ECP5 b and c: the fit to benchmarks/dse_area_reports.json (the DIM 4
#: synthesis with the multiplier bank; the lane slope of the two older sizes; the SRAMs' logic,
#: ``sram_logic``, taken out), rounded; Xilinx:
#: the same, LUTs x LUT6_PER_LUT4. Fits replace b, c.
COEFFS: dict[str, dict] = {
    "ecp5": {"lut": (30, 6412, 15258), "ff": (45, 2674, 2744), "dsp": (1, None, 29)},
    "xilinx": {"lut": (10, 4275, 10172), "ff": (25, 2674, 2744), "dsp": (1, None, 29)},
}
FMAX_MHZ = {"ecp5": 100.0, "xilinx-xc7": 200.0, "xilinx-xcup": 300.0}
#: The two SRAMs' own logic (``hw.sram.Sram``: port multiplexers, the multi-port structure and
#: its bypasses) in ECP5 LUT4 and FF as a line in the rows (SP + ACC) through two measurements of
#: ``benchmarks/fpga_block_probe.py sram`` (DIM 4, nextpnr's counts; docs/rtl.md "Memories"):
#: ``(rows, LUT4, FF)`` twice, for each structure the RTL has had (``hw.sram.MULTIPORT_KIND``).
#: "ff": a bank per writer and reader and a live-value table of flip-flops with a rows-to-1
#: multiplexer per read port (the RTL of every shipped report; 4 + 4 and 32 + 32 KiB); "xor": the
#: XOR multi-port banks with the read stage of read latency 2 (4 + 4 and 16 + 16 KiB, docs/rtl.md
#: "Memories", the read stage's "Measured"). A report is corrected by its own kind's term (key
#: ``sram_multiport``, default "ff"), a point gets the current RTL's: the rows dependence that no
#: report at one SRAM size shows. The "xor" term scales with DIM (its logic is per bit of a row);
#: both include the probe's port shell, which cancels between them.
SRAM_LOGIC_DIM = 4  # the DIM of the probes
SRAM_LOGIC_POINTS = {"ff": ((1280, 7785, 3168), (10240, 50188, 12182)),
                     "xor": ((1280, 6507, 4603), (5120, 7385, 4639))}


def _line2(points) -> dict[str, tuple[float, float]]:
    (r0, l0, f0), (r1, l1, f1) = points
    out = {}
    for key, (y0, y1) in (("lut", (l0, l1)), ("ff", (f0, f1))):
        slope = (y1 - y0) / (r1 - r0)
        out[key] = (slope, y0 - slope * r0)
    return out
DESIGN_KEYS = ("dim", "sp_kib", "acc_kib", "dram_bytes", "target")
PE_KEYS = ("family", "psum_width", "lut", "ff", "dsp")


def sram_logic(kind: str, dim: int, sp_kib: int, acc_kib: int, family: str = "ecp5"
               ) -> dict[str, float]:
    """LUT and FF of the two SRAMs' logic (``SRAM_LOGIC_POINTS``) of one multi-port structure;
    Xilinx LUTs x ``LUT6_PER_LUT4``."""
    cfg = MachineConfig(dim=dim, sp_kib=sp_kib, acc_kib=acc_kib)
    rows = cfg.sp_rows + cfg.acc_rows
    line = _line2(SRAM_LOGIC_POINTS[kind])
    # the flip-flop table costs per row; the XOR structure per bit of a row (its registers,
    # bypasses and XORs are as wide as the row: 8 x DIM, 32 x DIM bits), measured at DIM 4
    scale = dim / SRAM_LOGIC_DIM if kind == "xor" else 1.0
    out = {k: (a * rows + b) * scale for k, (a, b) in line.items()}
    if family == "xilinx":
        out["lut"] *= LUT6_PER_LUT4
    return out


def _report_sram_logic(r: dict, res: str) -> float:
    if res not in ("lut", "ff"):
        return 0.0
    return sram_logic(r.get("sram_multiport", "ff"), r["dim"], r["sp_kib"], r["acc_kib"],
                      TARGETS[r["target"]].family)[res]


def part(name: str) -> Target:
    if name not in TARGETS:
        raise ValueError(f"--target {name!r} is not known: expected one of {', '.join(TARGETS)}")
    return TARGETS[name]


def memory_blocks(t: Target, depth: int, width: int) -> int:
    """Block RAMs for a ``depth x width``-bit memory: the cheapest block shape."""
    return min(math.ceil(width / w) * math.ceil(depth / d) for d, w in t.bram_shapes)


def bram_blocks(t: Target, point: dict) -> int:
    """The SRAM banks (``bram_estimate``), the attention engine's memories and the LAYERNORM
    row buffer."""
    from hw.attention import buffer_shapes
    from hw.vector.layernorm import row_buffer_shape

    cfg = MachineConfig(dim=point["dim"], sp_kib=point["sp-kib"], acc_kib=point["acc-kib"])
    return (sum(bram_estimate(cfg, t).values())
            + sum(memory_blocks(t, *shape) for shape in buffer_shapes(cfg.dim, point["max-seq"]))
            + memory_blocks(t, *row_buffer_shape(cfg.dim, cfg.acc_rows)))


def multiplier_pieces(width: int) -> int:
    """DSP-sized pieces ``hw.mulbank.product`` splits a signed ``width``-bit operand into."""
    from amaranth.hdl import Signal, signed

    from hw.mulbank import operand_pieces

    return len(operand_pieces(Signal(signed(width))))


@functools.cache
def bank_multipliers_per_lane() -> int:
    """DSP multipliers per lane of the shared bank: every slot's pieces (``MUL_SLOTS``)."""
    from hw.mulbank import MUL_SLOTS

    return sum(multiplier_pieces(a) * multiplier_pieces(b) for a, b in MUL_SLOTS)


def _queue_ff(depth: int) -> int:
    return 3 * depth * INSTR_BITS


def _from_fpga_json(r: dict) -> dict:
    """An ``encore fpga --json`` report as a design report (its synthesis counts)."""
    c = r["config"]
    return {**{k: c[k] for k in ("dim", "sp_kib", "acc_kib", "dram_bytes")},
            "target": r["target"]["name"], **r["synth_resources"],
            "fmax_mhz": r.get("fmax_mhz"), "sram_multiport": c.get("sram_multiport", "ff")}


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
        if not pe and r.get("sram_multiport", "ff") not in SRAM_LOGIC_POINTS:
            raise ValueError(f"--area-reports entry {i}: sram_multiport "
                             f"{r['sram_multiport']!r} is not known: expected one of "
                             f"{', '.join(SRAM_LOGIC_POINTS)}")
        out.append(r)
    return out


def _designs(reports: list[dict], family: str, stale: bool = False) -> list[dict]:
    """The family's whole-accelerator reports: current ones, or (``stale``) the older RTL's."""
    return [r for r in reports if r.get("kind") != "pe" and bool(r.get("stale")) == stale
            and TARGETS[r["target"]].family == family]


def _residuals(rows: list[dict], pes: dict, prior: dict, res: str):
    """(DIMs, measured ``res`` minus the PE array and, for FF, the queues) of design reports."""
    import numpy as np

    dims = np.array([r["dim"] for r in rows], dtype=float)
    y = np.array([r[res] - _pe_term(pes, prior, res, r["dim"]) - _report_sram_logic(r, res)
                  - (_queue_ff(MachineConfig.queue_depth) if res == "ff" else 0)
                  for r in rows], dtype=float)
    return dims, y


def _line(dims, y):
    """Least-squares slope and intercept of ``y`` over ``dims`` (two or more distinct DIMs)."""
    import numpy as np

    b, c = np.linalg.lstsq(np.stack([dims, np.ones_like(dims)], 1), y, rcond=None)[0]
    return float(b), float(c)


def fit(reports: list[dict], family: str) -> dict | None:
    """Coefficients fitted to the family's current whole-accelerator reports, or None without
    any (the module docstring says which term comes from where). ``a`` stays as ``_pe_term``
    gives it; ``"lane_slope"`` says where each LUT/FF ``b`` came from."""
    import numpy as np

    rows = _designs(reports, family)
    if not rows:
        return None
    prior = COEFFS[family]
    pes = _pe_table(reports, family)
    old = _designs(reports, family, stale=True)
    out: dict = {"lane_slope": {}}
    for res in ("lut", "ff"):
        dims, y = _residuals(rows, pes, prior, res)
        if len(set(dims)) >= 2:
            b, c = _line(dims, y)
            out["lane_slope"][res] = "fitted"
        else:
            odims, oy = _residuals(old, pes, prior, res)
            if len(set(odims)) >= 2:
                b = _line(odims, oy)[0]
                out["lane_slope"][res] = "stale reports"
            else:
                b = prior[res][1]
                out["lane_slope"][res] = "prior"
            c = float(np.mean(y - b * dims))
        out[res] = (prior[res][0], b, c)
    dims, y = _residuals(rows, pes, prior, "dsp")
    out["dsp"] = (prior["dsp"][0], None,
                  float(np.mean(y - bank_multipliers_per_lane() * dims)))
    fmaxes = [r["fmax_mhz"] for r in rows if r.get("fmax_mhz")]
    if fmaxes:
        out["fmax_mhz"] = float(min(fmaxes))
    return out


def _from_ecp5(fitted: dict) -> dict:
    """A Xilinx model's lane and fixed terms from an ECP5 fit (LUTs x LUT6_PER_LUT4)."""
    prior = COEFFS["xilinx"]
    lut = fitted["lut"]
    return {"lut": (prior["lut"][0], lut[1] * LUT6_PER_LUT4, lut[2] * LUT6_PER_LUT4),
            "ff": (prior["ff"][0], *fitted["ff"][1:]), "dsp": (prior["dsp"][0], *fitted["dsp"][1:])}


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
        self.analytic_source = "fitted" if fitted else "analytic"
        if fitted is None and family == "xilinx" and (ecp5 := fit(reports, "ecp5")):
            fitted = _from_ecp5(ecp5)  # still "analytic": no Xilinx synthesis behind it
        self.coeffs = {**COEFFS[family], **(fitted or {})}
        self.fmax_mhz = self.coeffs.get("fmax_mhz", FMAX_MHZ.get(target, FMAX_MHZ.get(family)))

    def _measured(self, point: dict) -> dict | None:
        """A report of this point on the current SRAM RTL (an older live-value table's report
        only enters the fit)."""
        from hw.sram import MULTIPORT_KIND

        key = (point["dim"], point["sp-kib"], point["acc-kib"], point["dram-bw"])
        for r in self.designs:
            if (r["dim"], r["sp_kib"], r["acc_kib"], r["dram_bytes"]) == key \
                    and r.get("sram_multiport", "ff") == MULTIPORT_KIND:
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
            from hw.sram import MULTIPORT_KIND

            logic = sram_logic(MULTIPORT_KIND, dim, point["sp-kib"], point["acc-kib"],
                               self.part.family)
            res = {}
            for k in ("lut", "ff", "dsp"):
                _, b, c = self.coeffs[k]
                b = bank_multipliers_per_lane() if b is None else b
                res[k] = max(0, round(_pe_term(self.pes, self.coeffs, k, dim) + b * dim + c
                                      + logic.get(k, 0.0)
                                      + (_queue_ff(point["queue-depth"]) if k == "ff" else 0)))
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
