"""A cache of the Verilator runtime objects, shared by every build of this worktree.

Each Verilator build compiles the same runtime library (verilated.cpp, verilated_vpi.cpp, ...,
about 35 CPU seconds) and cocotb's main (verilator.cpp, which only sees the model through
Vtop.h). ``restore`` puts cached copies of those objects into a freshly verilated build folder
before make runs, ``save`` stores them after a successful make.

An object is reused only if every file its compiler dependency list (the ``.d`` file the
compiler wrote) names has the same content as when it was compiled, and the compiler and its
flags are the same: the key is a SHA-256 over the compiler's version, the flags and each of
those files. Restored objects are stamped with the current time so that make, which also makes
them depend on the freshly generated Vtop.mk, sees them as up to date.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

#: The objects that do not depend on the design (verilator.o depends on Vtop.h only).
OBJECTS = ("verilated", "verilated_dpi", "verilated_vpi", "verilated_threads", "verilator")


@functools.cache
def compiler_id() -> str:
    """``c++ --version`` (the compiler make uses), or "" if it cannot be run."""
    try:
        out = subprocess.run(["c++", "--version"], capture_output=True, text=True, check=False)
    except OSError:
        return ""
    return out.stdout


def dep_files(d_file: Path) -> list[str]:
    """The prerequisites listed in a make dependency file (``target: a b \\`` lines)."""
    text = d_file.read_text().replace("\\\n", " ")
    _, _, deps = text.partition(":")
    return deps.split()


def _key(build_dir: Path, deps: list[str], flags: str) -> str | None:
    h = hashlib.sha256((compiler_id() + "\0" + flags).encode())
    for dep in deps:
        path = Path(dep) if os.path.isabs(dep) else build_dir / dep
        try:
            h.update(dep.encode() + b"\0" + path.read_bytes())
        except OSError:
            return None
    return h.hexdigest()[:24]


def restore(cache: Path, build_dir: Path, flags: str) -> list[str]:
    """Copy the cached objects that are still valid into ``build_dir``; returns their names."""
    done = []
    for name in OBJECTS:
        deps_file = cache / name / "deps.txt"
        if not deps_file.exists():
            continue
        key = _key(build_dir, deps_file.read_text().split("\n"), flags)
        entry = cache / name / key if key else None
        if entry is None or not (entry / f"{name}.o").exists():
            continue
        for ext in (".o", ".d"):
            shutil.copyfile(entry / f"{name}{ext}", build_dir / f"{name}{ext}")
            os.utime(build_dir / f"{name}{ext}")
        done.append(name)
    return done


def save(cache: Path, build_dir: Path, flags: str) -> None:
    """Store this build's runtime objects (after make succeeded)."""
    for name in OBJECTS:
        obj, d_file = build_dir / f"{name}.o", build_dir / f"{name}.d"
        if not (obj.exists() and d_file.exists()):
            continue
        deps = dep_files(d_file)
        key = _key(build_dir, deps, flags)
        if key is None:
            continue
        entry = cache / name / key
        if (entry / f"{name}.o").exists():
            continue
        tmp = cache / name / f".tmp-{os.getpid()}"
        tmp.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(obj, tmp / obj.name)
        shutil.copyfile(d_file, tmp / d_file.name)
        try:
            os.replace(tmp, entry)
        except OSError:  # another build stored it first
            shutil.rmtree(tmp, ignore_errors=True)
        (cache / name / "deps.txt").write_text("\n".join(deps))
