"""The core clock that latency estimates use, and where it came from (issue 9, item 4).

Three sources, in this order:

* ``--clock-mhz F``: the user's number;
* ``--fpga-report R.json``: the routed Fmax in a report of ``encore fpga --json R.json`` (nextpnr
  on an ECP5 part), for the same machine configuration as the run;
* neither: ``DEFAULT_CLOCK_MHZ``, an assumed ASIC-class clock that no FPGA run of this repo has
  reached (docs/rtl.md "FPGA").

Every report that gives a latency carries ``clock_mhz`` and ``clock_source`` (a sentence).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from isa import MachineConfig

DEFAULT_CLOCK_MHZ = 200.0
ASSUMED = (f"assumed: the default {DEFAULT_CLOCK_MHZ:g} MHz, not a measured Fmax "
           "(`encore fpga --json R.json`, then `--fpga-report R.json`, uses a routed one)")


@dataclass(frozen=True)
class Clock:
    mhz: float
    source: str


def add_clock_args(p: argparse.ArgumentParser, fpga_report: bool = True) -> None:
    p.add_argument("--clock-mhz", type=float, default=None,
                   help=f"core clock for latency estimates (default {DEFAULT_CLOCK_MHZ:g} MHz, "
                   "assumed" + (", or the Fmax of --fpga-report)" if fpga_report else ")"))
    if fpga_report:
        p.add_argument("--fpga-report", metavar="R.json",
                       help="take the clock from the routed Fmax in this `encore fpga --json` "
                       "report (its DIM, SRAMs and AXI width must be this run's)")


def clock_from_args(args, config: MachineConfig | None = None) -> Clock:
    """The clock of ``args`` (``--clock-mhz`` / ``--fpga-report``); ``config`` is the machine the
    estimate is for, checked against the FPGA report's. Raises ValueError with what was wrong."""
    mhz, report = getattr(args, "clock_mhz", None), getattr(args, "fpga_report", None)
    if mhz is not None and report:
        raise ValueError("--clock-mhz and --fpga-report both give the clock: use one of them")
    if mhz is not None:
        if not mhz > 0:
            raise ValueError(f"--clock-mhz {mhz:g} is invalid: expected a number > 0 (MHz)")
        return Clock(float(mhz), "given with --clock-mhz")
    if report:
        return clock_from_fpga_report(Path(report), config)
    return Clock(DEFAULT_CLOCK_MHZ, ASSUMED)


def _config_mismatch(rc: dict, config: MachineConfig) -> list[str]:
    pairs = (("dim", "DIM", config.dim), ("sp_kib", "SP KiB", config.sp_kib),
             ("acc_kib", "ACC KiB", config.acc_kib),
             ("dram_bytes", "DRAM bytes per cycle", config.dram_bytes_per_cycle))
    return [f"{label} {rc.get(key)} (report) != {mine} (this run)"
            for key, label, mine in pairs if rc.get(key) != mine]


def clock_from_fpga_report(path: Path, config: MachineConfig | None) -> Clock:
    try:
        r = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"--fpga-report {path}: no such file (write one with "
                         "`encore fpga ... --json PATH`)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"--fpga-report {path}: not a JSON report of `encore fpga` ({e})") \
            from None
    if not isinstance(r, dict) or not isinstance(r.get("config"), dict) or "target" not in r:
        raise ValueError(f"--fpga-report {path}: not a report of `encore fpga --json` "
                         "(expected its 'config' and 'target')")
    target = r["target"] if isinstance(r["target"], dict) else {}
    name = target.get("name", "?")
    fmax = r.get("fmax_mhz")
    if not isinstance(fmax, (int, float)) or fmax <= 0:
        why = ("synthesis estimate only: no place and route ran"
               if target.get("place_and_route") is False else
               "placed only (--place-only): its Fmax is nextpnr's post-placement estimate"
               if r.get("placed_fmax_mhz") else "no routed Fmax in it")
        raise ValueError(f"--fpga-report {path}: {name} has no measured Fmax ({why}); "
                         "give the clock with --clock-mhz")
    if config is not None and (bad := _config_mismatch(r["config"], config)):
        raise ValueError(f"--fpga-report {path} is for another machine: " + "; ".join(bad)
                         + ": run with its configuration or give --clock-mhz")
    return Clock(float(fmax), f"measured: the routed Fmax of {name} ({target.get('device', '?')})"
                 f" in {path} (nextpnr, {r.get('requested_mhz', '?')} MHz requested)")
