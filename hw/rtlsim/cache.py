"""The two levels of the RTL build cache (.cache/rtl).

1. The generated Verilog of a configuration, keyed by the RTL configuration and the source of
   every hw/ module (subpackages included, not the bench or the FPGA flow) and of isa/ as the
   process first read them:
   ``verilog/dim<D>-<hash>.v``. Generating it (Amaranth, then yosys) takes about 24 CPU
   seconds at DIM 16, and the fast and the Python DRAM builds share it.
2. Simulator builds, keyed by the Verilog text itself and everything else that goes into the
   binary (the simulator, the DRAM model and memory size, the wrapper and memory model
   sources, the build flags): a source change that leaves the Verilog as it was (a comment, a
   docstring, a Python-only module of isa/) costs the Verilog generation but no rebuild.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "rtl"
VERILOG_CACHE = CACHE / "verilog"
RTLSIM = Path(__file__).resolve().parent


def rtl_sources() -> list[Path]:
    """Every source the generated Verilog can depend on."""
    rtl = [p for p in (ROOT / "hw").rglob("*.py")
           if not {"rtlsim", "fpga"} & set(p.relative_to(ROOT).parts)]
    return sorted(rtl) + sorted((ROOT / "isa").glob("*.py"))


@functools.cache
def sources_digest() -> str:
    """SHA-256 of :func:`rtl_sources`, read once per process: a process elaborates the modules
    it imported, so a source edited while it runs (a test session during an edit) must not
    key what it generates from the old modules under the new sources."""
    h = hashlib.sha256()
    for path in rtl_sources():
        h.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def verilog_path(key: dict, dim: int) -> Path:
    """The cached Verilog file for the RTL configuration ``key`` (runner.rtl_key)."""
    h = hashlib.sha256(json.dumps(key, sort_keys=True).encode())
    h.update(sources_digest().encode())
    return VERILOG_CACHE / f"dim{dim}-{h.hexdigest()[:16]}.v"


def cached_verilog(key: dict, dim: int, generate) -> tuple[str, bool]:
    """(Verilog text, whether it was generated now): the cached file, or ``generate()``
    written to the cache."""
    path = verilog_path(key, dim)
    if path.exists():
        return path.read_text(), False
    text = generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)
    return text, True


def build_hash(verilog: str, sim: str, extra: str, flags: list) -> str:
    """Key of a simulator build: the Verilog, the simulator, ``extra`` (DRAM model and
    memory size), the build ``flags`` and the wrapper and memory model sources."""
    h = hashlib.sha256(verilog.encode() + b"\0" + sim.encode())
    h.update(json.dumps([flags, extra]).encode())
    for path in (RTLSIM / "wrapper.py", RTLSIM / "axi_mem.v"):
        h.update(path.read_bytes())
    return h.hexdigest()[:16]
