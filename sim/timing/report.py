"""TimingReport: what the timing model tells about one program on one machine.

Built from a Schedule (sim/timing/schedule.py) and the program's layer ranges. Definitions
(docs/timing.md, "Report"):

* ``cycles``: START (cycle 0) to the last completion, as the RTL's cycle counter.
  ``latency_ms = cycles / (clock_mhz * 1e3)``.
* ``macs``: multiply-accumulates the array executes (GEMM rows*kblocks*DIM^2, padding lanes
  included; ATTN 2*seq^2*hd_blocks*DIM). ``useful_macs``: the model's MACs on the real tokens
  only (no lane padding, no padding tokens of a padded batch), from ``program.meta["macs"]``
  (compiler.lower_model.useful_macs) when the compiler wrote it, else ``macs``.
* ``utilization = useful_macs / (DIM^2 * cycles)``; ``ideal_cycles = ceil(useful_macs / DIM^2)``.
* Unit ``busy``: cycles the unit executed; ``stall``: cycles an instruction of that unit sat at
  the head of its queue waiting for a dependency token; ``starved``: cycles its queue was empty
  waiting for the dispatcher; ``idle`` the rest of ``cycles``. The array is busy during GEMM and
  during the two matmul phases of ATTN; the attention engine during the whole ATTN.
* Layer ``cycles``: the layer's share of the critical path, ``E_k - E_{k-1}`` where ``E_k`` is
  the latest completion of any instruction in layers ``0..k``; they add up to ``cycles``.
* ``queue_busy``: summed cost per queue; ``overlap_bound = max(queue_busy)`` is the fastest any
  token placement could run these instructions (perfect overlap of the three queues), and
  ``cycles - overlap_bound`` is what scheduling (tokens, queue depth) costs.
* Layer ``bound``: ``memory`` if its load or store DMA was busy longer than its compute queue,
  else ``compute``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from isa import MachineConfig

from .costs import Unit
from .layers import LayerRange
from .roofline import Roofline
from .schedule import Schedule

#: Units reported in ``units`` (NOPs are counted under ``by_opcode`` only).
REPORTED_UNITS = (Unit.ARRAY, Unit.VECTOR, Unit.ATTENTION, Unit.LOAD_DMA, Unit.STORE_DMA)
REPORTED_UNITS_INDEX = {u.value: i for i, u in enumerate(REPORTED_UNITS)}


@dataclass
class UnitStats:
    busy: int = 0
    stall: int = 0
    starved: int = 0

    def to_dict(self, cycles: int) -> dict:
        idle = max(0, cycles - self.busy - self.stall - self.starved)
        return {"busy": self.busy, "stall": self.stall, "starved": self.starved, "idle": idle}


@dataclass
class LayerReport:
    name: str
    cycles: int = 0
    macs: int = 0
    dram_read: int = 0
    dram_written: int = 0
    compute_busy: int = 0  # cycles of its compute-queue instructions
    load_busy: int = 0
    store_busy: int = 0
    instructions: int = 0

    @property
    def dram_bytes(self) -> int:
        return self.dram_read + self.dram_written

    @property
    def bound(self) -> str:
        return "memory" if max(self.load_busy, self.store_busy) > self.compute_busy else "compute"

    def utilization(self, dim: int) -> float:
        return self.macs / (dim * dim * self.cycles) if self.cycles else 0.0

    def to_dict(self, dim: int) -> dict:
        return {
            "name": self.name,
            "cycles": self.cycles,
            "macs": self.macs,
            "utilization": self.utilization(dim),
            "bound": self.bound,
            "dram_bytes": {"read": self.dram_read, "written": self.dram_written},
            "busy": {"compute": self.compute_busy, "load": self.load_busy,
                     "store": self.store_busy},
            "instructions": self.instructions,
        }


@dataclass
class TimingReport:
    """Result of sim.timing.estimate: cycles, utilization, traffic, per unit and per layer."""

    config: MachineConfig
    clock_mhz: float
    cycles: int
    macs: int
    dram_read: int
    dram_written: int
    units: dict[str, UnitStats]
    dispatch_blocked: dict[str, int]
    layers: list[LayerReport]
    by_opcode: dict[str, dict[str, int]] = field(default_factory=dict)
    useful_macs: int | None = None  # None: same as macs
    queue_busy: dict[str, int] = field(default_factory=dict)
    roofline: Roofline | None = None  # set by sim.timing.estimate (sim/timing/roofline.py)

    @property
    def overlap_bound(self) -> int:
        """Cycles with perfect overlap of the queues: the busiest queue's summed cost."""
        return max(self.queue_busy.values(), default=0)

    @property
    def model_macs(self) -> int:
        """Useful MACs: the model's own (program.meta["macs"]) if known, else ``macs``."""
        return self.macs if self.useful_macs is None else self.useful_macs

    @property
    def latency_ms(self) -> float:
        return self.cycles / (self.clock_mhz * 1e3)

    @property
    def ideal_cycles(self) -> int:
        """The compute bound: every MAC on a fully busy array, ``ceil(macs / DIM^2)``."""
        return -(-self.model_macs // self.config.macs_per_cycle)

    @property
    def utilization(self) -> float:
        return self.model_macs / (self.config.macs_per_cycle * self.cycles) if self.cycles else 0.0

    def to_dict(self) -> dict:
        dim = self.config.dim
        return {
            "cycles": self.cycles,
            "latency_ms": self.latency_ms,
            "clock_mhz": self.clock_mhz,
            "utilization": self.utilization,
            "macs": self.macs,
            "useful_macs": self.model_macs,
            "ideal_cycles": self.ideal_cycles,
            "dram_bytes": {"read": self.dram_read, "written": self.dram_written},
            "units": {name: u.to_dict(self.cycles) for name, u in self.units.items()},
            "dispatch_blocked": dict(self.dispatch_blocked),
            "queue_busy": dict(self.queue_busy),
            "overlap_bound": self.overlap_bound,
            **({"roofline": self.roofline.to_dict(self.cycles)} if self.roofline else {}),
            "layers": [layer.to_dict(dim) for layer in self.layers],
            "by_opcode": {k: dict(v) for k, v in self.by_opcode.items()},
            "config": self.config.to_dict(),
        }

    def format(self, max_layers: int | None = None) -> str:
        """A readable text report; ``max_layers`` limits the layer table (None: all)."""
        c, n = self.config, self.cycles
        lines = [
            f"Encore timing estimate: DIM {c.dim}, DRAM {c.dram_bytes_per_cycle} B/cycle, "
            f"latency {c.dram_latency} cycles, queues {c.queue_depth}, "
            f"clock {self.clock_mhz:g} MHz",
            f"  cycles {n:,}   latency {self.latency_ms:.3f} ms   MAC utilization "
            f"{self.utilization:.3f}   ideal (MACs/DIM^2) {self.ideal_cycles:,}",
            f"  MACs {self.macs:,} (useful {self.model_macs:,})   "
            f"DRAM read {self.dram_read:,} B   written "
            f"{self.dram_written:,} B",
        ]
        if self.roofline is not None:
            r = self.roofline
            lines.append(
                f"  roofline bound {r.cycles:,} cycles = {r.ms:.3f} ms ({r.bound}-bound: compute "
                f"{r.compute_cycles:,}, memory {r.memory_cycles:,})   estimate / bound "
                f"{r.ratio(n):.3f}")
        lines += [
            "",
            f"  {'unit':<10} {'busy':>14} {'stall':>12} {'starved':>12} {'busy %':>7}",
        ]
        for name, u in self.units.items():
            pct = 100.0 * u.busy / n if n else 0.0
            lines.append(f"  {name:<10} {u.busy:>14,} {u.stall:>12,} {u.starved:>12,} {pct:>6.1f}%")
        lines.append("  queue busy: " + ", ".join(f"{k} {v:,}" for k, v in self.queue_busy.items())
                     + f"   perfect-overlap bound {self.overlap_bound:,} cycles")
        blocked = {k: v for k, v in self.dispatch_blocked.items() if v}
        if blocked:
            lines.append("  dispatcher blocked on full queue: "
                         + ", ".join(f"{k} {v:,}" for k, v in blocked.items()))
        lines += ["", f"  {'opcode':<10} {'count':>8} {'cycles':>14} {'% of busy':>9}"]
        total_busy = sum(v["cycles"] for v in self.by_opcode.values()) or 1
        for op, v in sorted(self.by_opcode.items(), key=lambda kv: -kv[1]["cycles"]):
            lines.append(f"  {op:<10} {v['count']:>8,} {v['cycles']:>14,} "
                         f"{100.0 * v['cycles'] / total_busy:>8.1f}%")
        shown = self.layers if max_layers is None else self.layers[:max_layers]
        width = max([len(layer.name) for layer in shown] + [5])
        lines += ["", f"  {'layer':<{width}} {'cycles':>12} {'MACs':>15} {'util':>6} "
                      f"{'bound':>7} {'DRAM bytes':>13}"]
        for layer in shown:
            lines.append(
                f"  {layer.name:<{width}} {layer.cycles:>12,} {layer.macs:>15,} "
                f"{layer.utilization(c.dim):>6.3f} {layer.bound:>7} {layer.dram_bytes:>13,}"
            )
        if len(shown) < len(self.layers):
            lines.append(f"  ... {len(self.layers) - len(shown)} more layers")
        return "\n".join(lines)


def build_report(
    sched: Schedule, ops: list[str], ranges: list[LayerRange], cfg: MachineConfig, clock_mhz: float
) -> TimingReport:
    """Aggregate a schedule into a report. ``ops[i]`` is instruction i's opcode name.

    The schedule shares one Cost object among instructions with the same cost, so the sums
    are taken over the distinct costs (numpy, per instruction index) rather than in Python."""
    costs = sched.costs
    n = len(costs)
    index: dict[int, int] = {}  # id of a distinct Cost -> its index in `uniq`
    uniq: list = []

    def distinct(c) -> int:
        k = index.get(id(c))
        if k is None:
            k = index[id(c)] = len(uniq)
            uniq.append(c)
        return k

    which = np.fromiter(map(distinct, costs), np.int64, n)
    per = {k: np.array([getattr(c, k) for c in uniq] or [0], dtype=np.int64)[which]
           for k in ("cycles", "array_cycles", "macs", "dram_read", "dram_written")}
    unit_names = [c.unit.value for c in uniq]
    unit_of = np.array([REPORTED_UNITS_INDEX.get(u, -1) for u in unit_names] or [-1])[which]
    cycles = per["cycles"]

    by_opcode: dict[str, dict[str, int]] = {}
    names, op_first, op_index = np.unique(np.asarray(ops, dtype=str), return_index=True,
                                          return_inverse=True)
    counts = np.bincount(op_index, minlength=len(names))
    op_cycles = np.bincount(op_index, weights=cycles, minlength=len(names))
    for k in np.argsort(op_first, kind="stable"):  # first-occurrence order, as before
        by_opcode[str(names[k])] = {"count": int(counts[k]), "cycles": int(op_cycles[k])}

    load_q = unit_of == REPORTED_UNITS_INDEX[Unit.LOAD_DMA.value]
    store_q = unit_of == REPORTED_UNITS_INDEX[Unit.STORE_DMA.value]
    compute_q = ~(load_q | store_q)
    queue_busy = {"load": int(cycles[load_q].sum()), "compute": int(cycles[compute_q].sum()),
                  "store": int(cycles[store_q].sum())}
    units = {u.value: UnitStats() for u in REPORTED_UNITS}
    reported = unit_of >= 0
    for key, values in (("busy", cycles), ("stall", sched.token_wait),
                        ("starved", sched.starved)):
        sums = np.bincount(unit_of[reported], weights=np.asarray(values)[reported],
                           minlength=len(REPORTED_UNITS))
        for u, total in zip(REPORTED_UNITS, sums, strict=True):
            setattr(units[u.value], key, int(total))
    not_array = unit_of != REPORTED_UNITS_INDEX[Unit.ARRAY.value]
    units[Unit.ARRAY.value].busy += int(per["array_cycles"][not_array].sum())

    def prefix(v: np.ndarray) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(v)])

    sums = {"macs": prefix(per["macs"]), "dram_read": prefix(per["dram_read"]),
            "dram_written": prefix(per["dram_written"]),
            "load_busy": prefix(np.where(load_q, cycles, 0)),
            "store_busy": prefix(np.where(store_q, cycles, 0)),
            "compute_busy": prefix(np.where(compute_q, cycles, 0))}
    layers: dict[str, LayerReport] = {}
    reached = 0
    for r in ranges:
        layer = layers.setdefault(r.name, LayerReport(r.name))
        if r.end > r.start:
            end = max(reached, int(sched.finish[r.start : r.end].max()))
            layer.cycles += end - reached
            reached = end
        layer.instructions += r.end - r.start
        for key, pre in sums.items():
            setattr(layer, key, getattr(layer, key) + int(pre[r.end] - pre[r.start]))
    return TimingReport(
        config=cfg,
        clock_mhz=clock_mhz,
        cycles=sched.cycles,
        macs=int(per["macs"].sum()) if n else 0,
        dram_read=int(per["dram_read"].sum()) if n else 0,
        dram_written=int(per["dram_written"].sum()) if n else 0,
        units=units,
        dispatch_blocked={q.name.lower(): v for q, v in sched.dispatch_blocked.items()},
        layers=list(layers.values()),
        by_opcode=by_opcode,
        queue_busy=queue_busy,
    )
