"""Closed-form cycle costs of every Encore instruction: the one place the timing formulas live.

Every function here is pure: it takes integers (instruction fields and MachineConfig values) and
returns cycles. docs/timing.md documents each formula, its assumptions and whether it has been
checked against the RTL's cycle counter; tests/timing/test_costs.py checks the code against the
same formulas written out independently. Change a formula here and in docs/timing.md together.

Notation: ``d`` is the array size DIM, ``bw`` the DRAM bandwidth in bytes per cycle, ``lat`` the
DRAM latency in cycles, ``ceil(a/b)`` integer ceiling division.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from isa import Instruction, MachineConfig, Mem, Opcode, attn_param_rows

# ---- micro-architectural constants (see docs/timing.md) ----------------------------------------
# Those marked "RTL" are the RTL's (hw/); tests/timing/test_rtl_constants.py checks them against
# hw/ and tests/hw/test_rtl_cycles.py checks the formulas against the RTL's cycle counters.
#: Busy cycles of a NOP (RTL: the runner retires it the cycle after its start).
NOP_CYCLES = 1
#: RTL: the runner's start cycle before the engine is busy. An instruction holds its queue for
#: ``START_CYCLES + busy`` cycles, and its pushed tokens are usable from the cycle after its
#: last busy cycle.
START_CYCLES = 1
#: RTL: cycles from dispatch (the write into the queue FIFO) to the earliest start
#: (``SyncFIFOBuffered`` latency).
QUEUE_CYCLES = 2
#: Kept for compatibility: the old name of QUEUE_CYCLES's role (fetch -> earliest start).
DISPATCH_CYCLES = QUEUE_CYCLES
#: RTL instruction fetch (hw/fetch.py): the first read request goes out this many cycles after
#: START; one request per cycle; at most FETCH_DEPTH instructions requested or buffered.
FETCH_FIRST_REQUEST = 1
FETCH_DEPTH = 8
#: RTL: cycles from an instruction word's last R beat to the cycle the dispatcher can take it.
FETCH_BUFFER_CYCLES = 2
#: RTL STORE DMA: cycles before the first W beat (SRAM read, 2 through the row FIFO, latch the
#: row) and after the B response (count it, then done): ``beats + write latency + 5``.
STORE_FIXED_CYCLES = 5
#: Vector-unit pipeline depth per opcode: accumulator read -> arithmetic stages -> write.
#: REQUANT: RTL (hw/vector.py: read, A sat32(x+bias), B *m, C round+sat8, write).
VECTOR_PIPELINE = {Opcode.REQUANT: 4, Opcode.GELU: 8, Opcode.RESADD: 5}
#: Rows per block the unit reads first to check the shift parameters before it writes anything
#: (RTL for REQUANT: hw/vector.py's shift scan). GELU / RESADD: not built; no scan modelled.
VECTOR_SCAN_ROWS = {Opcode.REQUANT: 1, Opcode.GELU: 0, Opcode.RESADD: 0}
#: Instructions with data-dependent checks: the dispatcher holds the next instruction until
#: ``check_hold_cycles`` after their start (RTL: REQUANT, hw/controller.py).
RUNTIME_CHECKED = (Opcode.REQUANT,)
#: Parameter rows read per column block before the block's rows stream (isa.PARAM_ROWS_PER_BLOCK).
VECTOR_PARAM_ROWS = {Opcode.REQUANT: 3, Opcode.GELU: 5, Opcode.RESADD: 5}
#: LayerNorm: passes over each row (sum, sum of squared deviations, normalise).
LAYERNORM_PASSES = 3
#: Iterative divider (one quotient bit per cycle, 32-bit quotient): mean, variance, 2^30/std.
DIVIDE_CYCLES = 32
#: Integer square root of a 32-bit variance, one result bit per cycle.
ISQRT_CYCLES = 16
#: LayerNorm per-row statistics latency: mean divide, variance divide, isqrt, reciprocal.
LAYERNORM_ROW_CYCLES = 3 * DIVIDE_CYCLES + ISQRT_CYCLES
#: LayerNorm parameter rows read once per instruction: the header row.
LAYERNORM_HEADER_ROWS = 1
#: LayerNorm datapath pipeline depth (read, subtract/multiply, round, write).
LAYERNORM_PIPELINE = 6
#: Attention: softmax passes over the score buffer after QK^T (the row max is taken as scores
#: drain from the array): 1) exp and row sum, 2) normalise to uint8 P.
SOFTMAX_PASSES = 2
#: Attention: latency of the pipelined reciprocal 2^32 / sum (one row issued per cycle).
SOFTMAX_RECIP_CYCLES = DIVIDE_CYCLES
#: Attention: cycles per parameter row (header, output scales, key mask) read before QK^T.
ATTN_SETUP_PER_PARAM_ROW = 1


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


# ---- DMA --------------------------------------------------------------------------------------
def dma_beats(rows: int, row_bytes: int, dram_addr: int, dram_stride: int, bw: int) -> int:
    """Data beats of a 2-D transfer: each DRAM row is one burst over the bus-aligned span of its
    ``row_bytes`` bytes, ``ceil((addr_i mod bw + row_bytes) / bw)`` beats for row ``i`` at
    ``addr_i = dram_addr + i*dram_stride`` (as hw/dma.py). Bursts are pipelined, one beat per
    cycle. The offsets ``addr_i mod bw`` repeat with period ``bw / gcd(dram_stride, bw)``, so the
    sum is one period times the number of whole periods plus the remainder (at most ``bw``
    terms, usually one).
    """
    period = bw // math.gcd(dram_stride % bw, bw) if dram_stride % bw else 1
    period = min(period, rows)

    def span(i: int) -> int:
        return (((dram_addr + i * dram_stride) % bw) + row_bytes + bw - 1) // bw

    per_period = sum(span(i) for i in range(period))
    whole, rest = divmod(rows, period)
    return whole * per_period + sum(span(i) for i in range(rest))


def dma_cycles(rows: int, row_bytes: int, dram_addr: int, dram_stride: int, bw: int,
               lat: int) -> int:
    """LOAD: ``lat + dma_beats(...)`` (RTL, exact): the first request goes out in the first busy
    cycle, its first beat ``lat`` later, then one beat per cycle; the row is written in the cycle
    of its last beat, which is the last busy cycle. The latency is paid once per instruction."""
    return lat + dma_beats(rows, row_bytes, dram_addr, dram_stride, bw)


def store_cycles(rows: int, row_bytes: int, dram_addr: int, dram_stride: int, bw: int,
                 lat: int) -> int:
    """STORE: ``dma_beats(...) + lat + STORE_FIXED_CYCLES`` (RTL, exact, with the write response
    ``lat`` cycles after a burst's last W beat): W beats stream one per cycle from the 5th busy
    cycle, and the instruction completes when the last burst's B response has been counted."""
    return dma_beats(rows, row_bytes, dram_addr, dram_stride, bw) + lat + STORE_FIXED_CYCLES


# ---- systolic array ---------------------------------------------------------------------------
def array_fill_drain(d: int) -> int:
    """Skew fill plus drain of a d x d weight-stationary array: the last row's last partial sum
    leaves the bottom ``2d - 1`` cycles after that row entered."""
    return 2 * d - 1


def gemm_cycles(rows: int, kblocks: int, d: int) -> int:
    """GEMM, as hw/gemm.py's schedule: K-block k owns ``P = max(rows, d)`` cycles (weight row t
    and A row t - 1 read in its cycle t, the next tile preloading into the shadow buffer while the
    current one computes); the last K-block issues its ``rows`` A rows after one weights-only
    cycle, then one cycle of SRAM latency, ``2d - 1`` through the array and one to
    read-modify-write the accumulator: ``(kblocks - 1) * P + rows + 2d + 2``."""
    return (kblocks - 1) * max(rows, d) + rows + 1 + 1 + array_fill_drain(d) + 1


def gemm_macs(rows: int, kblocks: int, d: int) -> int:
    """Multiply-accumulates the array performs (padding lanes included, as FunctionalStats)."""
    return rows * kblocks * d * d


# ---- vector unit ------------------------------------------------------------------------------
def vector_cycles(op: Opcode, rows: int, blocks: int) -> int:
    """REQUANT / GELU / RESADD: scan the shift rows of every block, then per block read its
    parameter rows and stream ``rows`` rows at one row (d lanes) per cycle; plus the pipeline
    depth once. REQUANT (RTL, exact): ``blocks * (rows + 4) + 4``."""
    return (blocks * (VECTOR_SCAN_ROWS[op] + VECTOR_PARAM_ROWS[op] + rows)
            + VECTOR_PIPELINE[op])


def check_hold_cycles(op: Opcode, blocks: int) -> int:
    """Cycles from a RUNTIME_CHECKED instruction's start to the first cycle the dispatcher may
    dispatch the next instruction (RTL REQUANT: the shift scan's ``blocks`` reads, one cycle of
    SRAM latency, one to release the hold, after the start cycle)."""
    return START_CYCLES + VECTOR_SCAN_ROWS[op] * blocks + 1


def layernorm_cycles(rows: int, blocks: int) -> int:
    """LAYERNORM: per row, three passes of ``blocks`` cycles (pass 3 also reads gamma/beta from a
    second accumulator bank in the same cycle) and the serial statistics latency; plus the header
    read and the pipeline depth once. Rows are processed one after another (no overlap)."""
    per_row = LAYERNORM_PASSES * blocks + LAYERNORM_ROW_CYCLES
    return LAYERNORM_HEADER_ROWS + rows * per_row + LAYERNORM_PIPELINE


# ---- attention engine -------------------------------------------------------------------------
def attn_matmul(seq: int, hd_blocks: int, d: int) -> int:
    """One of QK^T or PV through the array: like a GEMM of ``seq`` rows whose
    ``hd_blocks * ceil(seq/d)`` weight tiles are K^T (or V) tiles, streamed back to back."""
    return gemm_cycles(seq, hd_blocks * ceil_div(seq, d), d)


def attn_softmax(seq: int, d: int) -> int:
    """Softmax passes over the seq x seq score buffer, d scores per cycle, plus the reciprocal."""
    return SOFTMAX_PASSES * seq * ceil_div(seq, d) + SOFTMAX_RECIP_CYCLES


def attn_setup(seq: int, hd_blocks: int, d: int) -> int:
    """Read the ATTN parameter rows (isa.attn_param_rows: header, per-block output scales, mask)."""
    return ATTN_SETUP_PER_PARAM_ROW * attn_param_rows(seq, hd_blocks, d)


def attn_cycles(seq: int, hd_blocks: int, d: int) -> int:
    """ATTN: setup + QK^T + softmax + PV (the phases run one after another)."""
    return attn_setup(seq, hd_blocks, d) + 2 * attn_matmul(seq, hd_blocks, d) + attn_softmax(seq, d)


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


class CostError(ValueError):
    """An instruction field that has no cost (the hardware would raise BAD_FIELD)."""


def _positive(ins: Instruction, *names: str) -> None:
    for n in names:
        if ins.f[n] < 1:
            raise CostError(f"{ins.op.name}.{n}={ins.f[n]} is invalid: expected >= 1")


def instruction_cost(ins: Instruction, cfg: MachineConfig) -> Cost:
    """The closed-form cost of ``ins`` on a machine ``cfg``.

    Raises CostError (a ValueError) for field values the ISA rejects with BAD_FIELD.
    """
    op, d = ins.op, cfg.dim
    if op in (Opcode.LOAD, Opcode.STORE):
        _positive(ins, "rows", "cols")
        if ins.cols > d:
            raise CostError(f"{op.name}.cols={ins.cols} is invalid: expected 1..{d} (DIM)")
        row_bytes = ins.cols * (4 if ins.mem == Mem.ACC else 1)
        formula = dma_cycles if op == Opcode.LOAD else store_cycles
        cycles = formula(ins.rows, row_bytes, ins.dram_addr, ins.dram_stride,
                         cfg.dram_bytes_per_cycle, cfg.dram_latency)
        nbytes = ins.rows * row_bytes
        if op == Opcode.LOAD:
            return Cost(cycles, Unit.LOAD_DMA, dram_read=nbytes)
        return Cost(cycles, Unit.STORE_DMA, dram_written=nbytes)
    if op == Opcode.GEMM:
        _positive(ins, "rows", "kblocks")
        cycles = gemm_cycles(ins.rows, ins.kblocks, d)
        macs = gemm_macs(ins.rows, ins.kblocks, d)
        return Cost(cycles, Unit.ARRAY, array_cycles=cycles, macs=macs)
    if op in VECTOR_PIPELINE:
        _positive(ins, "rows", "blocks")
        return Cost(vector_cycles(op, ins.rows, ins.blocks), Unit.VECTOR)
    if op == Opcode.LAYERNORM:
        _positive(ins, "rows", "blocks")
        return Cost(layernorm_cycles(ins.rows, ins.blocks), Unit.VECTOR)
    if op == Opcode.ATTN:
        _positive(ins, "seq", "hd_blocks")
        if ins.seq > cfg.max_seq:
            raise CostError(f"ATTN.seq={ins.seq} is invalid: expected 1..{cfg.max_seq} (max_seq)")
        return Cost(
            attn_cycles(ins.seq, ins.hd_blocks, d),
            Unit.ATTENTION,
            array_cycles=2 * attn_matmul(ins.seq, ins.hd_blocks, d),
            macs=attn_macs(ins.seq, ins.hd_blocks, d),
        )
    if op == Opcode.NOP:
        return Cost(NOP_CYCLES, Unit.CONTROL)
    raise CostError(f"opcode {op!r} has no timing model")  # pragma: no cover - all opcodes above
