"""SRAM allocation from liveness: tensors with live intervals get first-fit row ranges.

A lowering declares each on-chip buffer with the SRAM it lives in (scratchpad or accumulator),
its rows and its live interval ``[first, last]`` in program-order steps (the step of its first
write to the step of its last read; the lowering chooses what a step is, e.g. one row tile).
``allocate`` walks the buffers by interval start and gives each the lowest base at which its
rows overlap no placed buffer whose interval overlaps its own; ``check`` verifies the result
independently (used after every allocation and by tests/test_planner.py). Buffers whose
intervals do not overlap may share rows: that is how a double buffer falls out of it (tile i's
buffer lives from the step it is prefetched in to its last use, so tile i+2 reuses tile i's rows).

Sharing rows is correct only together with the emitter (compiler/emitter.py): it turns each
reuse of rows into the dependency tokens between the queues, so no interleaving of the queues
can let a write overtake the reads of the previous tenant.
"""

from __future__ import annotations

from dataclasses import dataclass

SPACES = ("sp", "acc")


class PlanError(ValueError):
    """The buffers do not fit the SRAM (the caller falls back to a smaller plan)."""


@dataclass
class Buffer:
    name: str
    space: str  # "sp" or "acc"
    rows: int
    first: int  # first program-order step it is live in (its first write)
    last: int  # last step it is live in (its last read), inclusive
    base: int | None = None
    fixed: bool = False  # placed by the caller (``reserve``): rows something else already uses

    def live_with(self, other: Buffer) -> bool:
        return self.first <= other.last and other.first <= self.last

    def shares_rows(self, other: Buffer) -> bool:
        return (self.space == other.space and self.base < other.base + other.rows
                and other.base < self.base + self.rows)


class SramPlan:
    """First-fit allocation of buffers with live intervals into ``sp_rows`` / ``acc_rows``."""

    def __init__(self, sp_rows: int, acc_rows: int) -> None:
        self.capacity = {"sp": sp_rows, "acc": acc_rows}
        self.buffers: dict[str, Buffer] = {}

    def add(self, name: str, space: str, rows: int, first: int, last: int) -> Buffer:
        if space not in SPACES:
            raise ValueError(f"buffer {name!r}: space {space!r} is not one of {SPACES}")
        if name in self.buffers:
            raise ValueError(f"buffer {name!r} is declared twice")
        if rows < 1 or last < first:
            raise ValueError(f"buffer {name!r}: empty ({rows} rows, steps {first}..{last})")
        b = self.buffers[name] = Buffer(name, space, rows, first, last)
        return b

    def reserve(self, name: str, space: str, base: int, rows: int, first: int,
                last: int) -> Buffer:
        """A buffer at a given base (rows that instructions outside this plan access over
        ``[first, last]``): ``allocate`` places the others around it. Fixed buffers may share
        rows with each other."""
        b = self.add(name, space, rows, first, last)
        b.base, b.fixed = base, True
        return b

    def allocate(self) -> SramPlan:
        """Place every buffer (PlanError if one does not fit); returns self."""
        placed: list[Buffer] = [b for b in self.buffers.values() if b.fixed]
        order = sorted((b for b in self.buffers.values() if not b.fixed),
                       key=lambda b: (b.first, -b.rows, b.name))
        for b in order:
            busy = sorted((p.base, p.base + p.rows) for p in placed
                          if p.space == b.space and p.live_with(b))
            base = 0
            for lo, hi in busy:
                if base + b.rows <= lo:
                    break
                base = max(base, hi)
            if base + b.rows > self.capacity[b.space]:
                raise PlanError(f"buffer {b.name} ({b.rows} {b.space} rows, live "
                                f"{b.first}..{b.last}) does not fit: {self.capacity[b.space]} "
                                f"rows, {base} taken by live buffers")
            b.base = base
            placed.append(b)
        self.check()
        return self

    def check(self) -> None:
        """AssertionError unless every buffer is placed inside its SRAM and no two buffers
        whose intervals overlap share a row (unless both are fixed)."""
        bufs = list(self.buffers.values())
        for b in bufs:
            if b.base is None or b.base < 0 or b.base + b.rows > self.capacity[b.space]:
                raise AssertionError(f"buffer {b.name} is not placed inside {b.space}")
        for i, a in enumerate(bufs):
            for b in bufs[i + 1:]:
                if not (a.fixed and b.fixed) and a.live_with(b) and a.shares_rows(b):
                    raise AssertionError(f"live buffers {a.name} and {b.name} share "
                                         f"{a.space} rows")

    def base(self, name: str) -> int:
        return self.buffers[name].base

    def peak(self, space: str) -> int:
        """Highest row in use in ``space`` (0 if empty)."""
        return max((b.base + b.rows for b in self.buffers.values() if b.space == space),
                   default=0)
