"""Roofline bound: the fewest cycles any schedule of a model could take on a machine.

    bound   = max(compute, memory)
    compute = ceil(useful_macs / DIM^2)             every useful MAC on a fully busy array
    memory  = ceil(max(read, written) / bw)         the unavoidable DRAM traffic

``useful_macs`` is the report's own (``program.meta["macs"]``, the model's MACs on its real
tokens). The unavoidable traffic is every weight and parameter read once, the model's inputs
read once and its outputs written once, at the model's real sizes (no lane or head padding,
real tokens only): ``program.meta["dram_floor"] = {"read": bytes, "written": bytes}``, written
by the compiler (``compiler.lower_model.dram_floor``). A program without it (hand-written test
programs) counts its tensor map instead: constants and inputs read, outputs written, each at
``rows * cols`` elements. Reads and writes use separate AXI channels (docs/timing.md, LOAD /
STORE), so the memory side is the slower direction, not the sum of both: the sum is not a bound
on this machine. ``ratio = estimate / bound >= 1`` for every schedule the timing model produces.
"""

from __future__ import annotations

from dataclasses import dataclass

from isa import MachineConfig, Program

INPUT_ROLES = ("const", "input")  # read by the accelerator ("host" tensors never are)
OUTPUT_ROLES = ("output",)


@dataclass(frozen=True)
class Roofline:
    """The bound of one (program, machine). Cycles of the core clock; bytes of DRAM."""

    compute_cycles: int
    memory_cycles: int
    dram_read: int
    dram_written: int
    clock_mhz: float

    @property
    def cycles(self) -> int:
        return max(self.compute_cycles, self.memory_cycles)

    @property
    def bound(self) -> str:
        """Which side binds: ``compute`` (ties included) or ``memory``."""
        return "compute" if self.compute_cycles >= self.memory_cycles else "memory"

    @property
    def ms(self) -> float:
        return self.cycles / (self.clock_mhz * 1e3)

    def ratio(self, cycles: int) -> float:
        """``cycles / bound`` (inf for a positive estimate of a zero bound)."""
        if self.cycles == 0:
            return 1.0 if cycles == 0 else float("inf")
        return cycles / self.cycles

    def to_dict(self, cycles: int) -> dict:
        return {"cycles": self.cycles, "ms": self.ms, "bound": self.bound,
                "ratio": self.ratio(cycles), "compute_cycles": self.compute_cycles,
                "memory_cycles": self.memory_cycles,
                "dram_bytes": {"read": self.dram_read, "written": self.dram_written}}


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def dram_floor(program: Program) -> tuple[int, int]:
    """(read, written): the DRAM bytes every schedule of ``program``'s model must move."""
    floor = program.meta.get("dram_floor") if isinstance(program.meta, dict) else None
    if isinstance(floor, dict) and _count(floor.get("read")) and _count(floor.get("written")):
        return floor["read"], floor["written"]
    read = written = 0
    for t in program.tensors.values():
        size = t.rows * t.cols * t.esize
        if t.role in INPUT_ROLES:
            read += size
        elif t.role in OUTPUT_ROLES:
            written += size
    return read, written


def roofline(useful_macs: int, dram_read: int, dram_written: int, config: MachineConfig,
             clock_mhz: float) -> Roofline:
    """The bound of ``useful_macs`` MACs and that much unavoidable traffic on ``config``."""
    bw = config.dram_bytes_per_cycle
    return Roofline(compute_cycles=-(-useful_macs // config.macs_per_cycle),
                    memory_cycles=-(-max(dram_read, dram_written) // bw),
                    dram_read=dram_read, dram_written=dram_written, clock_mhz=float(clock_mhz))


def program_roofline(program: Program, useful_macs: int, config: MachineConfig,
                     clock_mhz: float) -> Roofline:
    """The bound of ``program``'s model (its DRAM floor) with ``useful_macs`` on ``config``."""
    read, written = dram_floor(program)
    return roofline(useful_macs, read, written, config, clock_mhz)
