"""Closed-form cycle costs of every Encore instruction.

The formulas of every unit (DMA, GEMM, REQUANT, GELU, RESADD, LAYERNORM, ATTN) and the queue
constants are the RTL's own, imported from isa/cycles.py (tests/hw measure the RTL against them).

Notation: ``d`` is the array size DIM, ``bw`` the DRAM bandwidth in bytes per cycle, ``lat`` the
DRAM latency in cycles, ``ceil(a/b)`` integer ceiling division.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from isa import Instruction, MachineConfig, Mem, Opcode
from isa import cycles as isa_cycles
from isa.cycles import (  # noqa: F401 - re-exported for the schedule, reports and tests
    FETCH_BUFFER_CYCLES,
    FETCH_DEPTH,
    FETCH_FIRST_REQUEST,
    NOP_CYCLES,
    QUEUE_CYCLES,
    RUNTIME_CHECKED,
    START_CYCLES,
    STORE_FIXED_CYCLES,
    array_fill_drain,
    check_hold_cycles,
    dma_beats,
    dma_bursts,
    gemm_cycles,
    layernorm_cycles,
    load_cycles,
    store_cycles,
    vector_cycles,
)

# ---- the RTL's constants and formulas live in isa/cycles.py (re-exported here) -----------------
#: Vector-unit opcodes priced by ``vector_cycles`` (REQUANT, GELU, RESADD).
VECTOR_OPS = tuple(isa_cycles.PARAM_ROWS)


class Unit(StrEnum):
    """Hardware units whose busy time the model reports."""

    ARRAY = "array"
    VECTOR = "vector"
    ATTENTION = "attention"
    LOAD_DMA = "load_dma"
    STORE_DMA = "store_dma"
    CONTROL = "control"  # NOPs: the compute queue's sequencer only


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def dma_cycles(rows: int, row_bytes: int, dram_addr: int, dram_stride: int, bw: int,
               lat: int) -> int:
    """LOAD (isa.cycles.load_cycles)."""
    return load_cycles(rows, row_bytes, dram_addr, dram_stride, bw, lat)


def gemm_macs(rows: int, kblocks: int, d: int) -> int:
    """Multiply-accumulates the array performs (padding lanes included, as FunctionalStats)."""
    return rows * kblocks * d * d


# ---- attention engine -------------------------------------------------------------------------
def attn_cycles(seq: int, hd_blocks: int, d: int) -> int:
    """ATTN busy (isa.cycles.attn_cycles: the three-stage engine of hw/attention.py)."""
    return isa_cycles.attn_cycles(seq, hd_blocks, d)


def attn_array_cycles(seq: int, hd_blocks: int, d: int) -> int:
    """Design estimate (not built; docs/rtl.md "ATTN") of an ATTN that runs QK^T and PV on the
    systolic array: each like a GEMM of ``seq`` rows over ``hd_blocks * ceil(seq/d)`` stationary
    K^T (or V) tiles, plus the parameter reads and two softmax passes at d scores per cycle with
    a 32-cycle pipelined reciprocal."""
    kb = ceil_div(seq, d)
    matmul = gemm_cycles(seq, hd_blocks * kb, d)
    return (1 + 2 * hd_blocks + kb) + 2 * matmul + 2 * seq * kb + 32


def attn_macs(seq: int, hd_blocks: int, d: int) -> int:
    """Useful MACs of one head: QK^T and PV over the real keys, ``2 * seq^2 * hd_blocks * d``."""
    return 2 * seq * seq * hd_blocks * d


# ---- per instruction --------------------------------------------------------------------------
@dataclass(frozen=True)
class Cost:
    """What one instruction costs: cycles on its unit, array cycles inside them, work done."""

    cycles: int
    unit: Unit
    array_cycles: int = 0  # cycles of ``cycles`` during which the systolic array is busy
    macs: int = 0
    dram_read: int = 0
    dram_written: int = 0
    #: LOAD: read bursts it requests on AR, one per cycle from its first busy cycle (the
    #: cycles it holds the AR channel against instruction fetch); 0 for every other opcode.
    read_bursts: int = 0


class CostError(ValueError):
    """An instruction field that has no cost (the hardware would raise BAD_FIELD)."""


def _positive(ins: Instruction, *names: str) -> None:
    for n in names:
        if ins.f[n] < 1:
            raise CostError(f"{ins.op.name}.{n}={ins.f[n]} is invalid: expected >= 1")


def instruction_cost(ins: Instruction, cfg: MachineConfig) -> Cost:
    """The closed-form cost of ``ins`` on a machine ``cfg``: its busy cycles from
    ``isa.cycles.busy_cycles`` (the formula the tiler uses too), its unit and its work.

    Raises CostError (a ValueError) for field values the ISA rejects with BAD_FIELD.
    """
    op, d = ins.op, cfg.dim
    if op in (Opcode.LOAD, Opcode.STORE):
        _positive(ins, "rows", "cols")
        if ins.cols > d:
            raise CostError(f"{op.name}.cols={ins.cols} is invalid: expected 1..{d} (DIM)")
    elif op == Opcode.GEMM:
        _positive(ins, "rows", "kblocks")
    elif op in VECTOR_OPS or op == Opcode.LAYERNORM:
        _positive(ins, "rows", "blocks")
    elif op == Opcode.ATTN:
        _positive(ins, "seq", "hd_blocks")
        if ins.seq > cfg.max_seq:
            raise CostError(f"ATTN.seq={ins.seq} is invalid: expected 1..{cfg.max_seq} (max_seq)")
    elif op != Opcode.NOP:  # pragma: no cover - every opcode is above
        raise CostError(f"opcode {op!r} has no timing model")
    cycles = isa_cycles.busy_cycles(op, ins.f, d, cfg.dram_bytes_per_cycle, cfg.dram_latency)
    if op in (Opcode.LOAD, Opcode.STORE):
        nbytes = ins.rows * ins.cols * (4 if ins.mem == Mem.ACC else 1)
        if op == Opcode.LOAD:
            bursts = dma_bursts(ins.rows, nbytes // ins.rows, ins.dram_addr, ins.dram_stride,
                                cfg.dram_bytes_per_cycle)
            return Cost(cycles, Unit.LOAD_DMA, dram_read=nbytes, read_bursts=bursts)
        return Cost(cycles, Unit.STORE_DMA, dram_written=nbytes)
    if op == Opcode.GEMM:
        return Cost(cycles, Unit.ARRAY, array_cycles=cycles,
                    macs=gemm_macs(ins.rows, ins.kblocks, d))
    if op == Opcode.ATTN:
        return Cost(cycles, Unit.ATTENTION, macs=attn_macs(ins.seq, ins.hd_blocks, d))
    return Cost(cycles, Unit.CONTROL if op == Opcode.NOP else Unit.VECTOR)
