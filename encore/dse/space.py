"""The design space of ``encore dse``: parameters, the ``--space`` syntax, grid and random search.

A space is space-separated ``NAME=V1,V2,...`` (those values) or ``NAME=LO..HI`` (every allowed
value in [LO, HI]: the supported array sizes for ``dim``, powers of two for the other sizes,
multiples of 25 MHz for ``clock-mhz``). Parameters not named keep the default of ``encore run``.
If the grid has at most ``max_points`` points every one is explored; otherwise a seeded random
search picks ``max_points`` distinct points of it.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

from isa import SUPPORTED_DIMS, MachineConfig

#: Default core clock of ``encore run`` / ``encore bench`` (MHz).
DEFAULT_CLOCK_MHZ = 200.0
#: Step of a ``clock-mhz=LO..HI`` range.
CLOCK_STEP_MHZ = 25


@dataclass(frozen=True)
class Param:
    name: str  # as in --space and on the `encore run` command line
    field: str | None  # MachineConfig field, None for the clock
    lo: int
    hi: int

    @property
    def option(self) -> str:
        return f"--{self.name}"


PARAMS: dict[str, Param] = {p.name: p for p in (
    Param("dim", "dim", min(SUPPORTED_DIMS), max(SUPPORTED_DIMS)),
    Param("sp-kib", "sp_kib", 1, 1 << 20),
    Param("acc-kib", "acc_kib", 1, 1 << 20),
    Param("dram-bw", "dram_bytes_per_cycle", 1, 1024),
    Param("max-seq", "max_seq", 1, 4095),
    Param("queue-depth", "queue_depth", 1, 1024),
    Param("clock-mhz", None, 1, 2000),
)}

#: Parameters the compiler's output depends on. The others (DRAM bandwidth, queue depth, clock)
#: only re-time the same program, and max-seq only decides whether it compiles at all.
PROGRAM_PARAMS = ("dim", "sp-kib", "acc-kib")


def defaults() -> dict:
    d = MachineConfig()
    out = {n: getattr(d, p.field) for n, p in PARAMS.items() if p.field}
    out["clock-mhz"] = DEFAULT_CLOCK_MHZ
    return out


def _range_values(p: Param, lo: int, hi: int) -> list:
    if p.name == "dim":
        return [d for d in SUPPORTED_DIMS if lo <= d <= hi]
    if p.name == "clock-mhz":
        first = -(-lo // CLOCK_STEP_MHZ) * CLOCK_STEP_MHZ
        return [float(v) for v in range(first, hi + 1, CLOCK_STEP_MHZ)]
    return [1 << k for k in range(0, 21) if lo <= 1 << k <= hi]


def _number(p: Param, text: str, what: str):
    try:
        v = float(text) if p.name == "clock-mhz" else int(text)
    except ValueError:
        kind = "a number" if p.name == "clock-mhz" else "an integer"
        raise ValueError(f"--space {p.name}: {what} {text!r} is not {kind}") from None
    if not p.lo <= v <= p.hi:
        raise ValueError(f"--space {p.name}={text} is out of range: expected {p.lo}..{p.hi}")
    return v


def parse_space(spec: str) -> dict[str, list]:
    """``"dim=8,16 dram-bw=8..64"`` -> ``{"dim": [8, 16], "dram-bw": [8, 16, 32, 64]}``."""
    axes: dict[str, list] = {}
    for item in spec.split():
        name, sep, values = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--space item {item!r} is not NAME=V1,V2,... or NAME=LO..HI")
        if name not in PARAMS:
            raise ValueError(f"--space: unknown parameter {name!r}: expected one of "
                             f"{', '.join(PARAMS)}")
        if name in axes:
            raise ValueError(f"--space: parameter {name!r} is given twice")
        p = PARAMS[name]
        if ".." in values:
            lo_t, _, hi_t = values.partition("..")
            lo, hi = _number(p, lo_t, "lower bound"), _number(p, hi_t, "upper bound")
            vals = _range_values(p, int(lo), int(hi)) if lo <= hi else []
            if not vals:
                raise ValueError(f"--space {item}: the range holds no allowed value")
        else:
            vals = [_number(p, v, "value") for v in values.split(",") if v]
            if not vals:
                raise ValueError(f"--space {item}: no values given")
            if name == "dim":
                bad = [v for v in vals if v not in SUPPORTED_DIMS]
                if bad:
                    raise ValueError(f"--space dim={bad[0]} is not supported: expected some of "
                                     f"{', '.join(map(str, SUPPORTED_DIMS))}")
        axes[name] = sorted(set(vals))
    if not axes:
        raise ValueError("--space is empty: give at least one NAME=V1,V2,... or NAME=LO..HI, "
                         f"NAME one of {', '.join(PARAMS)}")
    return axes


def grid_size(axes: dict[str, list]) -> int:
    n = 1
    for v in axes.values():
        n *= len(v)
    return n


def points(axes: dict[str, list], max_points: int, seed: int = 0) -> tuple[list[dict], str]:
    """The points to explore (full parameter dicts) and the method: ``grid`` or ``random``."""
    if max_points < 1:
        raise ValueError(f"--max-points {max_points} is invalid: expected >= 1")
    base = defaults()
    names = list(axes)
    n = grid_size(axes)
    if n <= max_points:
        combos = list(itertools.product(*(axes[k] for k in names)))
        method = "grid"
    else:  # sample grid indices without building the grid
        rng = random.Random(seed)
        picked = sorted(rng.sample(range(n), max_points))
        combos = []
        for idx in picked:
            combo = []
            for k in reversed(names):
                idx, r = divmod(idx, len(axes[k]))
                combo.append(axes[k][r])
            combos.append(tuple(reversed(combo)))
        method = "random"
    return [{**base, **dict(zip(names, c, strict=True))} for c in combos], method


def machine(point: dict) -> MachineConfig:
    """The MachineConfig of a point (raises ValueError for an invalid combination)."""
    return MachineConfig(**{p.field: point[n] for n, p in PARAMS.items() if p.field})


def program_key(point: dict) -> tuple:
    return tuple(point[n] for n in PROGRAM_PARAMS)


def point_id(point: dict) -> str:
    return " ".join(f"{n}={point[n]:g}" for n in PARAMS)


def run_command(point: dict, model: str, seq: int) -> str:
    """The ``encore run`` command that reproduces a point."""
    args = [f"--{n} {point[n]:g}" for n in PARAMS]
    args = [a for a in args if not a.startswith("--queue-depth")]  # not an `encore run` option
    return f"encore run --model {model} --seq {seq} " + " ".join(args)
