"""FPGA targets of ``encore fpga``: devices, their resources, and the block-RAM estimate of a
configuration (docs/rtl.md, "FPGA")."""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

from isa import MachineConfig

#: Resources reported for every target, in table order: (key, label).
RESOURCES = (("lut", "LUT"), ("ff", "FF"), ("dsp", "DSP"), ("bram", "block RAM"),
             ("lutram", "LUT RAM"), ("io", "IO"))

#: LUT mappers of the Xilinx flow: synth_xilinx's own abc9, or the older abc
#: (hw.fpga.flow.yosys_script).
LUT_MAPPERS = ("abc9", "abc")
#: nextpnr's routers (ECP5): its default router1, or router2 (docs/rtl.md "FPGA").
ROUTERS = ("router1", "router2")


@dataclass(frozen=True)
class Target:
    name: str
    family: str  # "ecp5" (synthesis + place and route) or "xilinx" (synthesis estimate only)
    device: str  # the part the available resources are those of
    available: dict  # resource key -> count
    units: dict  # resource key -> the cell the count is in (LUT4, DP16KD, RAMB36, ...)
    nextpnr_args: tuple[str, ...] = ()
    yosys_family: str = ""
    bram_shapes: tuple[tuple[int, int], ...] = ()  # (depth, width) of one block RAM

    @property
    def place_and_route(self) -> bool:
        return self.family == "ecp5"


_ECP5_UNITS = {"lut": "LUT4", "ff": "TRELLIS_FF", "dsp": "MULT18X18D", "bram": "DP16KD (EBR)",
               "lutram": "TRELLIS_DPR16X4", "io": "TRELLIS_IO"}
_ECP5_BRAM = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))
# Datasheet figures (Lattice FPGA-DS-02012): LUTs, EBR, MULT18; IO of the CABGA381 package.
_ECP5 = {"25k": (24288, 56, 28, 197), "45k": (43848, 108, 72, 203), "85k": (83640, 208, 156, 205)}
_XILINX_UNITS = {"lut": "LUT", "ff": "FF", "dsp": "DSP48", "bram": "RAMB36 (2 RAMB18)",
                 "lutram": "LUT RAM cells", "io": "IO"}
_XILINX_BRAM = ((32768, 1), (16384, 2), (8192, 4), (4096, 9), (2048, 18), (1024, 36), (512, 72))
# Reference parts whose capacity the utilisation refers to (AMD DS180, DS891).
_XILINX = {"xc7": ("xc7", "XC7A200T", (134600, 269200, 740, 365)),
           "xcup": ("xcup", "XCZU9EG", (274080, 548160, 2520, 912))}


def _targets() -> dict[str, Target]:
    out = {}
    for size, (lut, ebr, mult, io) in _ECP5.items():
        out[f"ecp5-{size}"] = Target(
            f"ecp5-{size}", "ecp5", f"LFE5U-{size[:2]}F-6BG381C (CABGA381, speed 6)",
            {"lut": lut, "ff": lut, "dsp": mult, "bram": ebr, "lutram": lut // 8, "io": io},
            _ECP5_UNITS, (f"--{size}", "--package", "CABGA381", "--speed", "6"),
            bram_shapes=_ECP5_BRAM)
    for fam, (yfam, part, (lut, ff, dsp, bram)) in _XILINX.items():
        out[f"xilinx-{fam}"] = Target(
            f"xilinx-{fam}", "xilinx", part,
            {"lut": lut, "ff": ff, "dsp": dsp, "bram": bram, "lutram": None, "io": None},
            _XILINX_UNITS, yosys_family=yfam, bram_shapes=_XILINX_BRAM)
    return out


TARGETS = _targets()


def get_target(name: str) -> Target:
    if name not in TARGETS:
        raise ValueError(f"unknown FPGA target {name!r}; known targets: {', '.join(TARGETS)}")
    return TARGETS[name]


def memories(cfg: MachineConfig) -> dict[str, tuple[int, int, int]]:
    """name -> (rows, bits per row, banks) of every SRAM of ``hw.top.EncoreTop``."""
    from ..sram import bank_count  # amaranth: imported only when needed (the CLI lists targets)
    from ..top import SRAM_ROLES

    shapes = {"sp": (cfg.sp_rows, 8 * cfg.dim), "acc": (cfg.acc_rows, 32 * cfg.dim)}
    return {name: (*shapes[name], bank_count(len(roles["writes"]), len(roles["reads"])))
            for name, roles in SRAM_ROLES.items()}


def bram_estimate(cfg: MachineConfig, target: Target) -> dict[str, int]:
    """Block RAMs each SRAM needs (best single-primitive shape per bank), before synthesis.
    Xilinx counts are in RAMB36 (a RAMB36 holds twice a RAMB18's shapes)."""
    out = {}
    for name, (depth, width, banks) in memories(cfg).items():
        per_bank = min(ceil(depth / d) * ceil(width / w) for d, w in target.bram_shapes)
        out[name] = banks * per_bank
    return out
