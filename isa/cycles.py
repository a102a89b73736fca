"""Cycle formulas and microarchitectural constants of the Encore RTL: their one home.

The RTL (hw/) builds its schedules from these constants and the timing model (sim/timing/)
prices instructions with these formulas; tests/hw/test_rtl_cycles.py and tests/hw/test_vector*.py
measure the RTL's cycle counters against them. Pure Python (the contract package does not
import Amaranth). docs/rtl.md derives each schedule, docs/timing.md states how each is used.

Notation: ``d`` is the array size DIM, ``bw`` the AXI data width in bytes, ``lat`` the DRAM
latency in cycles. "busy" cycles run from the cycle after an engine's start pulse to its done
pulse, inclusive (what the RTL's busy counters count).
"""

from __future__ import annotations

import math

from .fields import PARAM_ROWS_PER_BLOCK
from .numerics import LN_IN_BITS, LN_INV_BITS
from .opcodes import NEIGHBOURS, Opcode

# ---- queues, fetch, dispatch (hw/controller.py, hw/fetch.py) ---------------------------------
#: The queue chain load <-> compute <-> store: queue -> (prev, next) neighbour (None: no such).
QUEUE_CHAIN = NEIGHBOURS
#: Busy cycles of a NOP (the runner retires it the cycle after its start).
NOP_CYCLES = 1
#: The runner's start cycle before the engine is busy: an instruction holds its queue for
#: ``START_CYCLES + busy`` cycles; its pushed tokens are usable from the cycle after.
START_CYCLES = 1
#: Cycles from dispatch (the write into the queue FIFO) to the earliest start
#: (``SyncFIFOBuffered`` latency).
QUEUE_CYCLES = 2
#: Instruction fetch: the first read request goes out this many cycles after START; one request
#: per cycle; at most FETCH_DEPTH instructions requested or buffered.
FETCH_FIRST_REQUEST = 1
FETCH_DEPTH = 8
#: Register stages between the R channel and the fetch buffer in which the word checks are made
#: (hw/checks.py pipelined_checks: the word and the operands of the checks' products, the
#: products, the results; the DRAM range compare on the way into the buffer), so that no check
#: sits in the dispatch decision's cycle and no product shares a stage with logic (Fmax,
#: docs/rtl.md "FPGA").
FETCH_CHECK_STAGES = 3
#: Cycles from an instruction word's last R beat to the cycle the dispatcher can take it: the
#: check stages, then the buffer (``SyncFIFOBuffered``, 2).
FETCH_BUFFER_CYCLES = FETCH_CHECK_STAGES + 2
#: Cycles of SRAM read latency: address (and ``en``) in cycle ``t``, data in ``t + 2``: the
#: block RAM's synchronous read, then a register behind every bank ahead of the XOR of the banks
#: (hw/sram.py; docs/rtl.md "Memories": Fmax). The engines' internal block RAMs (the ATTN score
#: banks, query row and key mask, the LAYERNORM row buffer) are built the same way and have the
#: same latency.
SRAM_READ_LATENCY = 2

# ---- DMA (hw/dma.py) -------------------------------------------------------------------------
#: STORE: cycles before the first W beat (the SRAM read latency, 2 through the row FIFO, latch
#: the row) and after the B response (count it, then done).
STORE_FIXED_CYCLES = SRAM_READ_LATENCY + 4


def dma_beats(rows: int, row_bytes: int, dram_addr: int, dram_stride: int, bw: int) -> int:
    """Data beats of a 2-D transfer: each DRAM row is one burst over the bus-aligned span of its
    ``row_bytes`` bytes, ``ceil((addr_i mod bw + row_bytes) / bw)`` beats for row ``i`` at
    ``addr_i = dram_addr + i*dram_stride``. The offsets ``addr_i mod bw`` repeat with period
    ``bw / gcd(dram_stride, bw)``, so the sum is whole periods plus a remainder.
    """
    period = bw // math.gcd(dram_stride % bw, bw) if dram_stride % bw else 1
    period = min(period, rows)

    def span(i: int) -> int:
        return (((dram_addr + i * dram_stride) % bw) + row_bytes + bw - 1) // bw

    per_period = sum(span(i) for i in range(period))
    whole, rest = divmod(rows, period)
    return whole * per_period + sum(span(i) for i in range(rest))


#: AXI4 bursts may not cross this boundary (bytes); a DMA row that does is split in two bursts.
BOUNDARY_4K = 4096


def dma_bursts(rows: int, row_bytes: int, dram_addr: int, dram_stride: int, bw: int) -> int:
    """Read / write bursts of a 2-D transfer: one per row, two for a row whose bus-aligned span
    crosses a 4 KiB boundary (hw/streams.py RowGeometry). A LOAD issues them on AR in
    consecutive cycles from its first busy cycle. ``addr_i mod 4096`` repeats with period
    ``4096 / gcd(dram_stride, 4096)``, so the count is whole periods plus a remainder."""
    step = dram_stride % BOUNDARY_4K
    period = min(BOUNDARY_4K // math.gcd(step, BOUNDARY_4K) if step else 1, rows)

    def split(i: int) -> int:
        a = (dram_addr + i * dram_stride) % BOUNDARY_4K
        beats = (a % bw + row_bytes + bw - 1) // bw
        return int(beats * bw > BOUNDARY_4K - (a - a % bw))

    whole, rest = divmod(rows, period)
    return rows + whole * sum(split(i) for i in range(period)) + sum(split(i) for i in range(rest))


def load_cycles(rows: int, row_bytes: int, dram_addr: int, dram_stride: int, bw: int,
                lat: int) -> int:
    """LOAD busy: ``lat + dma_beats(...)``: the first request in the first busy cycle, its first
    beat ``lat`` later, then one beat per cycle; the last row is written with its last beat."""
    return lat + dma_beats(rows, row_bytes, dram_addr, dram_stride, bw)


def store_cycles(rows: int, row_bytes: int, dram_addr: int, dram_stride: int, bw: int,
                 lat: int) -> int:
    """STORE busy: ``dma_beats(...) + lat + STORE_FIXED_CYCLES`` (write response ``lat`` after a
    burst's last W beat)."""
    return dma_beats(rows, row_bytes, dram_addr, dram_stride, bw) + lat + STORE_FIXED_CYCLES


# ---- systolic array (hw/gemm.py) -------------------------------------------------------------
#: Cycles to read-modify-write one accumulator row after a result leaves the array: its ACC
#: read (addressed as the result leaves), the add and write in the cycle the old row arrives.
GEMM_ACCUMULATE_CYCLES = SRAM_READ_LATENCY


#: Register stages of a PE's product before its add into the partial sum (hw/pe.py): the
#: multiply, the weight select before it and the partial-sum add in one stage were the GEMM
#: block's longest routed path (88.8 MHz, docs/rtl.md "FPGA"). Every PE delays alike, so the
#: array's latency grows by this, not by it per PE.
PE_PRODUCT_STAGES = 1


def array_fill_drain(d: int) -> int:
    """Skew fill plus drain of a d x d weight-stationary array: a row's last partial sum leaves
    the bottom ``2d - 1 + PE_PRODUCT_STAGES`` cycles after the row entered."""
    return 2 * d - 1 + PE_PRODUCT_STAGES


def gemm_cycles(rows: int, kblocks: int, d: int) -> int:
    """GEMM busy: K-block k owns ``P = max(rows, d)`` cycles (weight row t and A row t - 1 read in
    its cycle t); the last K-block issues its ``rows`` A rows after one weights-only cycle, then
    SRAM latency ``L``, ``2d`` through the array (``array_fill_drain``) and the accumulate
    (``L`` again): ``(kblocks - 1) * P + rows + 2d + 1 + 2L`` (``+ 2d + 5`` with ``L = 2``)."""
    return ((kblocks - 1) * max(rows, d) + rows + 1 + SRAM_READ_LATENCY + array_fill_drain(d)
            + GEMM_ACCUMULATE_CYCLES)


# ---- multipliers (hw/mulbank.py) --------------------------------------------------------------
#: Cycles from presenting the operands of a product to the product register, for operands that
#: fit one 18 x 18 DSP multiplier (operand register, product) and for wider ones (operand
#: register; the 17-bit pieces' partial products on the DSP blocks; the cross products' sum;
#: the product: 3 before 2026-12-04, the two sums in one stage the longest path of LAYERNORM
#: at 90.4 MHz). Every product of the compute engines is pipelined so (no multiply and add or
#: select in one stage: Fmax).
MUL_NARROW_CYCLES = 2
MUL_WIDE_CYCLES = 4
#: Register stages of a rounding shift by a variable amount and what follows it in the same
#: stage (``numerics.rshift_round`` then a saturation / output plane; hw/vector/common.py
#: ``round_shift``): the arithmetic shift by the shift's multiple of 8 (and the bit below it),
#: the shift by the rest and the rounding bit, then the rounding add on a value clamped to the
#: output's width and the saturation. One stage for all of it was the compute engines'
#: critical path (REQUANT alone: 45.3 MHz, 22 ns, 81 levels); with the whole shift in one stage
#: (2 stages in all, 2026-12-03) still the longest path of REQUANT, RESADD, GELU and ATTN at
#: 85-89 MHz (docs/rtl.md "FPGA").
ROUND_CYCLES = 3

# ---- vector epilogues (hw/vector/): REQUANT, GELU, RESADD ------------------------------------
#: Instructions whose checks depend on data (parameters in the accumulator): the engine decides
#: them when it runs and the dispatcher holds the next instruction until it has.
RUNTIME_CHECKED = (Opcode.REQUANT, Opcode.GELU, Opcode.RESADD, Opcode.LAYERNORM, Opcode.ATTN)
#: Parameter rows per column block.
PARAM_ROWS = {op: PARAM_ROWS_PER_BLOCK[op] for op in (Opcode.REQUANT, Opcode.GELU, Opcode.RESADD)}
#: Shift rows per block, at these offsets in the block's parameter rows, read by the shift scan.
SHIFT_ROWS = {Opcode.REQUANT: (2,), Opcode.GELU: (2, 4), Opcode.RESADD: (2, 4)}
#: Cycles from a source row's accumulator read to its write (SRAM latency + arithmetic stages).
#: REQUANT: bias, ``* m`` (wide), round (ROUND_CYCLES); RESADD: bias, both products (wide),
#: round (its last stage the add of the two), sat32; GELU: bias, ``* m_in`` (wide), round,
#: ``|x|``, segment, ``t * c2`` and ``t * inner`` (narrow), ``x * phi`` and ``* m_out``
#: (wide), round (docs/rtl.md "Vector epilogues").
VECTOR_PIPELINE = {Opcode.REQUANT: SRAM_READ_LATENCY + 1 + MUL_WIDE_CYCLES + ROUND_CYCLES,
                   Opcode.GELU: SRAM_READ_LATENCY + 3 + 2 * ROUND_CYCLES + 3 * MUL_WIDE_CYCLES
                   + 2 * MUL_NARROW_CYCLES,
                   Opcode.RESADD: SRAM_READ_LATENCY + 2 + ROUND_CYCLES + MUL_WIDE_CYCLES}


def scan_cycles(op: Opcode, blocks: int) -> int:
    """Cycles of the shift scan: one accumulator read per shift row of every block."""
    return len(SHIFT_ROWS[op]) * blocks


def vector_cycles(op: Opcode, rows: int, blocks: int) -> int:
    """REQUANT / GELU / RESADD busy, when the checks pass: the shift scan, then per block its
    parameter rows and ``rows`` source rows at one read per cycle, then the pipeline drains:
    ``scan + blocks * (PARAM_ROWS + rows) + VECTOR_PIPELINE`` (REQUANT: ``blocks * (rows + 4)
    + 10``)."""
    return scan_cycles(op, blocks) + blocks * (PARAM_ROWS[op] + rows) + VECTOR_PIPELINE[op]


def check_cycles(op: Opcode, blocks: int) -> int:
    """Busy cycles up to and including the one in which the engine decides its data checks
    (``checked``); an instruction that fails them ends there (done, nothing written)."""
    if op == Opcode.LAYERNORM:
        return LN_HEADER_READS + SRAM_READ_LATENCY
    if op == Opcode.ATTN:  # ``blocks`` is hd_blocks
        return attn_scan_cycles(blocks) + SRAM_READ_LATENCY + ATTN_CHECK_STAGES
    return scan_cycles(op, blocks) + SRAM_READ_LATENCY


def check_hold_cycles(op: Opcode, blocks: int) -> int:
    """Cycles from a RUNTIME_CHECKED instruction's start to the first cycle the dispatcher may
    dispatch the next one: the start cycle, the checks, one to release the hold."""
    return START_CYCLES + check_cycles(op, blocks)


# ---- LAYERNORM (hw/vector/layernorm.py) -----------------------------------------------------
#: Busy cycles before the first statistics read: the header row (n_valid, shift) read.
LN_HEADER_READS = 1
#: Rows normalised together: their statistics are gathered, then the normalise pass walks the
#: blocks once for the group, reading gamma and beta once per block for all its rows.
LN_GROUP_ROWS = 4
#: Quotient / root bits the iterative divider and square root produce per cycle.
LN_BITS_PER_CYCLE = 1
#: Quotient bits of the three divisions (mean, variance, reciprocal) and root bits of isqrt
#: (each a multiple of LN_BITS_PER_CYCLE and enough for every admitted input: docs/rtl.md).
LN_MEAN_BITS = LN_IN_BITS
LN_VAR_BITS = 2 * LN_IN_BITS
LN_ROOT_BITS = LN_IN_BITS
LN_RECIP_BITS = 32
assert LN_RECIP_BITS > LN_INV_BITS
#: Cycles for S2's pipelined products (mean*sum and mean^2, then n*mean^2 from mean^2).
LN_S2_WAIT = 2 * MUL_WIDE_CYCLES
#: Cycles of one row's statistics besides the iterations: start the mean division, mean, the
#: S2 products, start the variance division, start isqrt, start the reciprocal, store.
LN_STATS_FIXED = 6 + LN_S2_WAIT
#: Cycles from the last statistics read of a group to its first statistics cycle (read
#: latency, clamp/mask, square, reduce; the accumulate is the next cycle).
LN_SUM_PIPELINE = SRAM_READ_LATENCY + 2 + MUL_WIDE_CYCLES
#: Groups of at most this many rows (a one-row LAYERNORM, the last group of ``4k + 1`` rows)
#: keep their row, clamped to int24, in the engine's row buffer (block RAM, one row of up to
#: 1023 blocks) from the statistics reads: their normalise pass reads only gamma and beta.
LN_BUFFER_ROWS = 1
#: Parameter reads per block of the normalise pass (gamma, beta).
LN_PARAM_READS = PARAM_ROWS_PER_BLOCK[Opcode.LAYERNORM]
#: Cycles from a normalise read to its scratchpad write (read latency; d; d*inv (wide); the
#: rounding add; saturate; n*gamma (wide); + beta; round and write).
LN_NORM_PIPELINE = SRAM_READ_LATENCY + 4 + ROUND_CYCLES + 2 * MUL_WIDE_CYCLES


def _steps(bits: int) -> int:
    return -(-bits // LN_BITS_PER_CYCLE)


def ln_stats_cycles() -> int:
    """Cycles of one row's statistics: mean divide, S2, variance divide, isqrt, reciprocal
    (142 at 1 bit per cycle)."""
    return (_steps(LN_MEAN_BITS) + _steps(LN_VAR_BITS) + _steps(LN_ROOT_BITS)
            + _steps(LN_RECIP_BITS) + LN_STATS_FIXED)


def ln_norm_reads(g: int) -> int:
    """Accumulator reads per block of a ``g``-row group's normalise pass: gamma, beta, and the
    ``g`` rows unless the group's rows are in the row buffer (``g <= LN_BUFFER_ROWS``: the
    buffered row comes with beta)."""
    return LN_PARAM_READS + (0 if g <= LN_BUFFER_ROWS else g)


def ln_group_cycles(g: int, blocks: int) -> int:
    """One group of ``g`` rows: ``g * blocks`` statistics reads, the sum pipeline, ``g`` serial
    statistics, then the normalise reads of every block."""
    return g * blocks + LN_SUM_PIPELINE + g * ln_stats_cycles() + blocks * ln_norm_reads(g)


def layernorm_cycles(rows: int, blocks: int) -> int:
    """LAYERNORM busy when the checks pass: the header, the groups of LN_GROUP_ROWS rows (the
    last one may be smaller) one after another, the normalise pipeline once:
    ``1 + sum over groups (g*blocks + 8 + 142*g + blocks*ln_norm_reads(g)) + 17``, i.e.
    ``3*blocks + 168`` for one row."""
    whole, rest = divmod(rows, LN_GROUP_ROWS)
    total = LN_HEADER_READS + whole * ln_group_cycles(LN_GROUP_ROWS, blocks) + LN_NORM_PIPELINE
    if rest:
        total += ln_group_cycles(rest, blocks)
    return total


# ---- ATTN (hw/attention.py): four query rows in flight -------------------------------------
#: Stages of the engine, each on its own query row in a slot: QK^T, exp, the reciprocal, PV.
ATTN_STAGES = 4
#: Score banks: a row's scores, then its E, stay in theirs from QK^T to PV (one per stage).
ATTN_BANKS = ATTN_STAGES
#: Cycles from a stage's last read to the cycle after its last write / accumulation, i.e. the
#: pipeline drain before the slot may end: the read latency (the score banks' too), then QK^T
#: (products, adder tree, accumulate over head blocks, * m_s, round by s_s: the score write),
#: exp (F - mx, d, z, z * ln2, r, square, * a, E: the E write and the row sum), PV (E * R, P,
#: P * V, accumulate, * m_o, round by s_o: the output write).
ATTN_QK_DRAIN = SRAM_READ_LATENCY + 2 + ROUND_CYCLES + MUL_NARROW_CYCLES + MUL_WIDE_CYCLES
ATTN_EXP_DRAIN = SRAM_READ_LATENCY + 7 + MUL_WIDE_CYCLES
ATTN_PV_DRAIN = SRAM_READ_LATENCY + 2 + ROUND_CYCLES + 2 * MUL_WIDE_CYCLES + MUL_NARROW_CYCLES
#: Quotient bits of the reciprocal R = floor(2^32 / sum E): sum E >= E(0) = 32779 > 2^15 when any
#: key is valid, so R < 2^17 (docs/rtl.md); ATTN_RECIP_STEP bits per cycle after one set-up cycle.
ATTN_RECIP_BITS = 18
ATTN_RECIP_STEP = 1
#: Parameter reads before each head block's PV pass: its output multipliers and shifts.
ATTN_PV_PARAM_READS = 2


#: Register stages between a shift row's arrival and the check decision: each row's shift
#: compares are registered, then merged (the compares, the error priority and the next phase's
#: start in one cycle were the block's critical path, 89.5 MHz: docs/rtl.md "FPGA").
ATTN_CHECK_STAGES = 1


def attn_scan_cycles(hd_blocks: int) -> int:
    """The shift scan: the header row (m_s, s_s) and each block's output-shift row."""
    return 1 + hd_blocks


def attn_mask_cycles(seq: int, d: int) -> int:
    """The key mask: one accumulator read per mask row, ``ceil(seq / d)``."""
    return -(-seq // d)


def attn_recip_cycles() -> int:
    return 1 + ATTN_RECIP_BITS // ATTN_RECIP_STEP


def attn_q_fill_cycles(hd_blocks: int) -> int:
    """QK^T's start: the query row's ``hd_blocks`` reads, and at least the read latency plus one
    cycle before its first block is read back from the query RAM."""
    return max(hd_blocks, SRAM_READ_LATENCY + 1)


def attn_stage_cycles(seq: int, hd_blocks: int) -> tuple[int, int, int, int]:
    """Cycles of each stage on one query row: QK^T (the query fill, ``seq * hd_blocks`` reads of
    K, drain); exp (``seq`` score reads, drain); the reciprocal; PV (per head block its 2
    parameter reads, ``seq`` reads of V and E, drain)."""
    return (attn_q_fill_cycles(hd_blocks) + seq * hd_blocks + ATTN_QK_DRAIN,
            seq + ATTN_EXP_DRAIN,
            attn_recip_cycles(),
            hd_blocks * (ATTN_PV_PARAM_READS + seq + ATTN_PV_DRAIN))


def attn_slots_cycles(seq: int, hd_blocks: int) -> int:
    """The ``seq + ATTN_STAGES - 1`` slots: in slot ``s`` stage ``i`` works on row ``s - i``
    where that row exists (``0 <= s - i < seq``), and the slot lasts as long as the longest of
    its stages."""
    stages = attn_stage_cycles(seq, hd_blocks)
    return sum(max(n for i, n in enumerate(stages) if 0 <= s - i < seq)
               for s in range(seq + ATTN_STAGES - 1))


def attn_cycles(seq: int, hd_blocks: int, d: int) -> int:
    """ATTN busy when the checks pass: the shift scan and its read latency, the key mask, the
    slots."""
    return (check_cycles(Opcode.ATTN, hd_blocks) + attn_mask_cycles(seq, d)
            + attn_slots_cycles(seq, hd_blocks))


def compute_cycles(op: Opcode, f: dict, d: int) -> int:
    """Busy cycles of a compute-queue instruction with fields ``f`` that passes its checks."""
    if op == Opcode.NOP:
        return NOP_CYCLES
    if op == Opcode.GEMM:
        return gemm_cycles(f["rows"], f["kblocks"], d)
    if op == Opcode.LAYERNORM:
        return layernorm_cycles(f["rows"], f["blocks"])
    if op == Opcode.ATTN:
        return attn_cycles(f["seq"], f["hd_blocks"], d)
    return vector_cycles(op, f["rows"], f["blocks"])


def busy_cycles(op: Opcode, f: dict, d: int, bw: int, lat: int) -> int:
    """Busy cycles of any instruction with fields ``f`` that passes its checks, on a machine of
    DIM ``d`` with DRAM ``bw`` bytes per cycle and latency ``lat``: the one selection of the
    formula by opcode, which the timing model (sim/timing/costs.py) and the compiler's tiler
    (compiler/tile_cost.py) share."""
    if op in (Opcode.LOAD, Opcode.STORE):
        row_bytes = f["cols"] * (4 if f["mem"] else 1)  # Mem.ACC: int32 elements
        formula = load_cycles if op == Opcode.LOAD else store_cycles
        return formula(f["rows"], row_bytes, f["dram_addr"], f["dram_stride"], bw, lat)
    return compute_cycles(op, f, d)
