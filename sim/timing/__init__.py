"""Timing model: an instruction-level estimate of cycles, utilization and DRAM traffic.

Each instruction costs a closed form of its fields and the MachineConfig (costs.py); the three
queues run concurrently, in order, synchronised by dependency tokens (schedule.py). Nothing is
stepped cycle by cycle, so a BERT-base program of ~50k instructions is timed in well under 5 s.

    >>> report = sim.timing.estimate(program, clock_mhz=200.0)
    >>> report.cycles, report.utilization, report.to_dict()["layers"][0]["bound"]
    >>> print(report.format())
"""

from __future__ import annotations

import math

from isa import MachineConfig, Program

from .costs import Cost, CostError, Unit, instruction_cost
from .layers import layer_ranges
from .report import LayerReport, TimingReport, UnitStats, build_report
from .roofline import Roofline, dram_floor, program_roofline, roofline
from .schedule import Schedule, schedule


def estimate(
    program: Program, clock_mhz: float = 200.0, config: MachineConfig | None = None
) -> TimingReport:
    """Time ``program`` on its machine (or on ``config``, e.g. with another DRAM bandwidth).

    ``clock_mhz``: core clock in MHz, > 0, used only for ``latency_ms``. ``config`` must have the
    program's ``dim`` (the instruction stream is tiled for it); other fields may differ.
    Raises ValueError for bad arguments and sim.SimError for a program whose instructions the
    hardware would reject: every check that reads no data (sim/checks.py), with the functional
    simulator's code, index and message.
    """
    if not isinstance(program, Program):
        raise TypeError(f"estimate() needs an isa.Program, not {type(program).__name__}")
    if isinstance(clock_mhz, bool) or not isinstance(clock_mhz, (int, float)):
        raise TypeError(f"clock_mhz must be a number, not {clock_mhz!r}")
    if not math.isfinite(clock_mhz) or clock_mhz <= 0:
        raise ValueError(f"clock_mhz={clock_mhz} is invalid: expected a finite number > 0 (MHz)")
    cfg = program.config if config is None else config
    if not isinstance(cfg, MachineConfig):
        raise TypeError(f"config must be an isa.MachineConfig, not {type(cfg).__name__}")
    if cfg.dim != program.config.dim:
        raise ValueError(
            f"config.dim={cfg.dim} differs from the program's dim={program.config.dim}: a program "
            "is tiled for one array size; recompile it for another"
        )
    ranges = layer_ranges(program.meta, len(program.instructions))
    sched = schedule(program.instructions, cfg, program.dram_size)
    ops = [ins.op.name for ins in program.instructions]
    report = build_report(sched, ops, ranges, cfg, float(clock_mhz))
    useful = program.meta.get("macs") if isinstance(program.meta, dict) else None
    if isinstance(useful, int) and not isinstance(useful, bool) and 0 < useful <= report.macs:
        report.useful_macs = useful
    report.roofline = program_roofline(program, report.model_macs, cfg, float(clock_mhz))
    return report


__all__ = [
    "Cost", "CostError", "LayerReport", "Roofline", "Schedule", "TimingReport", "Unit",
    "UnitStats", "dram_floor", "estimate", "instruction_cost", "layer_ranges",
    "program_roofline", "roofline", "schedule",
]
