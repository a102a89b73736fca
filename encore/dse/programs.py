"""Compiled programs for timing, cached on disk, and the two kinds of task the engine runs:
``compile_task`` (once per model, sequence length and program-shaping configuration) and
``time_task`` (once per point, re-timing a shared program on that point's machine).

Timing needs the instruction stream only, so cached programs carry no DRAM image. The cache is
keyed by a hash of compiler/*.py and isa/*.py (the compiler's tiler prices its choices with the
cycle formulas of isa/cycles.py, so a changed formula can change the program). A worker process
keeps one ``ProgramSource`` per cache folder, so a model's weights are loaded once per worker.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

UNITS = ("array", "vector", "attention", "load_dma", "store_dma")


def _digest(files) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()[:12]


def compiler_digest() -> str:
    """Hash of compiler/*.py and isa/*.py: what a cached program depends on (the instruction
    set, and the cycle formulas by which compiler/tile_cost.py chooses tiles)."""
    import compiler
    import isa

    return _digest([f for mod in (compiler, isa)
                    for f in sorted(Path(mod.__file__).parent.glob("*.py"))])


def results_digest() -> str:
    """Hash of what a timing depends on: the compiler, the timing model (sim/timing/*.py) and
    the cycle constants (isa/*.py); a results.jsonl line of another digest is not reused."""
    import compiler
    import isa
    import sim.timing

    files = [f for mod in (compiler, sim.timing, isa)
             for f in sorted(Path(mod.__file__).parent.glob("*.py"))]
    return _digest(files)


def model_tag(model: str) -> str:
    """A file-name-safe name: the model name, or a local folder's name plus a hash of its path."""
    from compiler import NAMED

    if model in NAMED:
        return model
    path = str(Path(model).resolve())
    return f"{Path(path).name}-{hashlib.sha256(path.encode()).hexdigest()[:8]}"


def _load_cached(path: Path):
    """A cached program, or None (recompile) if the file is unreadable or invalid."""
    import sys

    from isa import Program, ProgramFileError

    try:
        return Program.load(path)
    except ProgramFileError as e:
        print(f"ignoring the cached program {path}: {e}", file=sys.stderr)
        return None


class ProgramSource:
    """Compiled programs per (model, seq, dim, sp-kib, acc-kib), timing-only, cached on disk."""

    def __init__(self, cache_dir: Path, recompile: bool = False, reuse_stale: bool = False):
        self.cache_dir = Path(cache_dir)
        self.recompile = recompile
        self.reuse_stale = reuse_stale
        self._digest: str | None = None
        self._loaded: dict[str, object] = {}
        self.load_s = 0.0  # seconds spent loading models (once per model and process)

    def _stem(self, model: str, seq: int, config) -> str:
        return f"{model_tag(model)}-s{seq}-d{config.dim}-sp{config.sp_kib}-acc{config.acc_kib}"

    def _path(self, model: str, seq: int, config) -> Path:
        if self._digest is None:
            self._digest = compiler_digest()
        return self.cache_dir / f"{self._stem(model, seq, config)}-{self._digest}.encore"

    def loaded(self, model: str):
        from compiler import load_model

        if model not in self._loaded:
            t = time.perf_counter()
            self._loaded[model] = load_model(model)
            self.load_s += time.perf_counter() - t
        return self._loaded[model]

    def compile(self, model: str, seq: int, config):
        from compiler import compile_model

        # Latency depends on the instruction stream only, which GPTQ does not change (it picks
        # other int8 codes; tests/test_compiler.py checks the streams are equal): skip its cost.
        return compile_model(model, config, seq_len=seq, loaded=self.loaded(model),
                             quant={"use_gptq": False}).program

    def get(self, model: str, seq: int, config):
        """The program (cached, else compiled and cached); ValueError if it does not compile."""
        from isa import Program

        path = self._path(model, seq, config)
        if path.is_file() and not self.recompile:
            cached = _load_cached(path)
            if cached is not None:
                return cached
        if self.reuse_stale and not self.recompile:
            stale = sorted(self.cache_dir.glob(f"{self._stem(model, seq, config)}-*.encore"),
                           key=lambda f: f.stat().st_mtime)
            cached = _load_cached(stale[-1]) if stale else None
            if cached is not None:
                return cached
        prog = self.compile(model, seq, config)
        slim = Program(config=prog.config, instructions=prog.instructions, dram_init=b"",
                       dram_size=prog.dram_size, tensors=prog.tensors, meta=prog.meta)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        slim.save(tmp)
        os.replace(tmp, path)  # atomic: another worker or run never reads half a file
        return slim

    def torch_model(self, model: str):
        return self.loaded(model).model

    def args(self) -> tuple:
        """What a worker process needs to make its own (``source_for``)."""
        return (str(self.cache_dir), self.recompile, self.reuse_stale)


_SOURCES: dict[tuple, ProgramSource] = {}


def source_for(cache_dir: str, recompile: bool, reuse_stale: bool) -> ProgramSource:
    key = (str(cache_dir), recompile, reuse_stale)
    if key not in _SOURCES:
        _SOURCES[key] = ProgramSource(Path(cache_dir), recompile, reuse_stale)
    return _SOURCES[key]


def compile_task(source: tuple | ProgramSource, model: str, seq: int, config: dict) -> dict:
    """``{"program", "compile_s", "load_s"}``, or ``{"error", ...}`` when the compiler rejects
    the config; ``load_s``: the part of ``compile_s`` this process spent loading the model (its
    first program of that model only).
    ``source``: a ProgramSource (in this process) or the ``args()`` of one (in a worker).
    The program travels between workers in its file format (bytes): pickling the Program
    object itself recurses too deeply for large programs."""
    from isa import MachineConfig

    src = source if isinstance(source, ProgramSource) else source_for(*source)
    t, load0 = time.perf_counter(), src.load_s
    try:
        prog = src.get(model, seq, MachineConfig(**config))
    except ValueError as e:  # the compiler's message names what does not fit
        return {"error": str(e), "compile_s": time.perf_counter() - t,
                "load_s": src.load_s - load0}
    return {"program": prog.to_bytes(), "compile_s": time.perf_counter() - t,
            "load_s": src.load_s - load0}


_DECODED: dict[bytes, object] = {}


def program_of(compiled: dict):
    """The Program of a compile_task result, decoded once per process for the last few (the
    result itself is left alone: the engine may still send it to another worker)."""
    from isa import Program

    data = compiled["program"]
    key = hashlib.blake2b(data, digest_size=16).digest()
    if key not in _DECODED:
        if len(_DECODED) >= 4:
            _DECODED.pop(next(iter(_DECODED)))
        _DECODED[key] = Program.from_bytes(data)
    return _DECODED[key]


def time_task(compiled: dict, config: dict, clock_mhz: float, layers: bool = False) -> dict:
    """The timing model's figures for one point; ``{"error"}`` if its program did not compile."""
    import sim.timing
    from isa import MachineConfig

    if "error" in compiled:
        return {"error": compiled["error"], "compile_s": compiled["compile_s"],
                "load_s": compiled.get("load_s", 0.0)}
    prog = program_of(compiled)
    t = time.perf_counter()
    rep = sim.timing.estimate(prog, clock_mhz=clock_mhz, config=MachineConfig(**config))
    wall = time.perf_counter() - t
    d = rep.to_dict()
    row = {
        "cycles": rep.cycles, "latency_ms": rep.latency_ms, "ideal_cycles": rep.ideal_cycles,
        "ideal_ms": rep.ideal_cycles / (clock_mhz * 1e3), "utilization": rep.utilization,
        "useful_macs": rep.model_macs, "dram_read": rep.dram_read,
        "dram_written": rep.dram_written, "instructions": len(prog.instructions),
        "timing_s": wall, "compile_s": compiled["compile_s"],
        "load_s": compiled.get("load_s", 0.0),
    }
    if rep.roofline is not None:  # sim/timing/roofline.py
        rl = d["roofline"]
        row.update(bound_cycles=rl["cycles"], bound_ms=rl["ms"], bound=rl["bound"],
                   bound_ratio=rl["ratio"])
    for u in UNITS:
        row[f"{u}_busy"] = d["units"][u]["busy"]
        row[f"{u}_stall"] = d["units"][u]["stall"]
    if layers:
        row["layers"] = d["layers"]
    return row
