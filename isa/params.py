"""Machine parameters: the one description of an Encore accelerator instance.

Every layer (compiler, simulators, RTL) takes a :class:`MachineConfig` explicitly; nothing reads
a global configuration. Derived sizes are properties computed from the fields, so they cannot
drift apart.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

#: Array sizes the instruction set can address. DIM must be a power of two (SRAM banking and
#: the `cols` field of DMA instructions) and at least 4 (the attention and LayerNorm parameter
#: headers use lanes 0..3 of one accumulator row). The 8-bit `cols` field bounds it above.
SUPPORTED_DIMS = (4, 8, 16, 32, 64, 128)

#: SRAM row addresses are 18-bit fields in every instruction (see isa/fields.py).
SRAM_ADDR_BITS = 18
#: DRAM byte addresses are 32-bit fields.
DRAM_ADDR_BITS = 32


@dataclass(frozen=True)
class MachineConfig:
    """Parameters of one accelerator instance.

    Sizes are in KiB of storage; rows are derived. Times are in clock cycles of the core clock.
    """

    #: Systolic array is ``dim x dim`` int8 MAC processing elements; vector unit has ``dim`` lanes.
    dim: int = 16
    #: Scratchpad capacity (int8 rows of ``dim`` elements).
    sp_kib: int = 512
    #: Accumulator capacity (int32 rows of ``dim`` elements).
    acc_kib: int = 256
    #: Sustained DRAM bandwidth of the DMA engine, bytes per core cycle (AXI data width).
    dram_bytes_per_cycle: int = 16
    #: Cycles from a DMA request to its first data beat.
    dram_latency: int = 64
    #: Longest key sequence the attention engine's score banks hold (keys per query row).
    max_seq: int = 512
    #: Depth of each of the load / compute / store instruction queues.
    queue_depth: int = 16

    def __post_init__(self) -> None:
        def check_int(name: str, lo: int, hi: int | None = None) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"MachineConfig.{name} must be an int, not {value!r}")
            if value < lo or (hi is not None and value > hi):
                rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
                raise ValueError(f"MachineConfig.{name}={value} is out of range: expected {rng}")

        if isinstance(self.dim, bool) or not isinstance(self.dim, int):
            raise TypeError(f"MachineConfig.dim must be an int, not {self.dim!r}")
        if self.dim not in SUPPORTED_DIMS:
            raise ValueError(
                f"array size dim={self.dim} cannot be addressed by the Encore ISA: "
                f"expected one of {', '.join(map(str, SUPPORTED_DIMS))}"
            )
        check_int("sp_kib", 1)
        check_int("acc_kib", 1)
        check_int("dram_bytes_per_cycle", 1, 1024)
        check_int("dram_latency", 0, 1 << 16)
        check_int("max_seq", 1, 4095)
        check_int("queue_depth", 1, 1024)
        for name, rows in (("sp_kib", self.sp_rows), ("acc_kib", self.acc_rows)):
            if rows < 4 * self.dim:
                raise ValueError(
                    f"MachineConfig.{name}={getattr(self, name)} gives only {rows} rows at "
                    f"dim={self.dim}: expected at least {4 * self.dim}"
                )
            if rows > 1 << SRAM_ADDR_BITS:
                raise ValueError(
                    f"MachineConfig.{name}={getattr(self, name)} gives {rows} rows at "
                    f"dim={self.dim}, more than the {SRAM_ADDR_BITS}-bit row address reaches "
                    f"({1 << SRAM_ADDR_BITS})"
                )

    # -- derived values -------------------------------------------------------------------
    @property
    def sp_rows(self) -> int:
        """Scratchpad rows (each ``dim`` int8 values)."""
        return self.sp_kib * 1024 // self.dim

    @property
    def acc_rows(self) -> int:
        """Accumulator rows (each ``dim`` int32 values)."""
        return self.acc_kib * 1024 // (4 * self.dim)

    @property
    def sp_row_bytes(self) -> int:
        return self.dim

    @property
    def acc_row_bytes(self) -> int:
        return 4 * self.dim

    @property
    def macs_per_cycle(self) -> int:
        return self.dim * self.dim

    def replace(self, **changes) -> MachineConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> MachineConfig:
        if not isinstance(data, dict):
            raise TypeError(f"machine configuration must be a dict, not {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown machine parameter(s) {unknown}: expected some of {sorted(known)}"
            )
        return cls(**data)
