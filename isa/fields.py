"""Instruction formats: one field table from which encoders, decoders and RTL layouts derive.

Every instruction is ``INSTR_BITS`` = 128 bits, little-endian in DRAM (16 bytes). Bits [4:0]
hold the opcode, bits [8:5] the dependency flags, and the rest the opcode's fields in table
order from bit 9 upwards; unused high bits must be zero.

Dependency flags (TVM VTA style): ``pop_prev`` / ``pop_next`` wait for a token from the previous
/ next queue in the chain load -> compute -> store before the instruction starts;
``push_prev`` / ``push_next`` send one after it completes. A flag towards a queue that does not
exist (load has no prev, store has no next) is a DEPENDENCY error.
"""

from __future__ import annotations

from .opcodes import OPCODE_BITS, Opcode
from .params import DRAM_ADDR_BITS, SRAM_ADDR_BITS

INSTR_BITS = 128
INSTR_BYTES = INSTR_BITS // 8

HEADER = (
    ("opcode", OPCODE_BITS),
    ("pop_prev", 1),
    ("pop_next", 1),
    ("push_prev", 1),
    ("push_next", 1),
)
DEP_FLAGS = ("pop_prev", "pop_next", "push_prev", "push_next")

A = SRAM_ADDR_BITS  # an SRAM row address
ROWS = 16  # a row count
BLOCKS = 10  # a count of column blocks

_DMA = (
    ("mem", 1),  # Mem: 0 scratchpad (int8), 1 accumulator (int32)
    ("sram_addr", A),  # first SRAM row
    ("rows", ROWS),  # rows to move, >= 1
    ("cols", 8),  # elements per row, 1..DIM (LOAD zero-fills lanes >= cols)
    ("dram_addr", DRAM_ADDR_BITS),  # byte address of the first row in DRAM
    ("dram_stride", 24),  # bytes between consecutive rows in DRAM (0 repeats one row)
)

#: Per-opcode fields after the header, LSB first: (name, width).
FIELDS: dict[Opcode, tuple[tuple[str, int], ...]] = {
    Opcode.NOP: (),
    Opcode.LOAD: _DMA,
    Opcode.STORE: _DMA,
    Opcode.GEMM: (
        ("accumulate", 1),  # 0: acc = A@W, 1: acc += A@W
        ("a_addr", A),  # scratchpad row of A[0] in K-block 0
        ("a_stride", A),  # scratchpad rows between consecutive K-blocks of A
        ("w_addr", A),  # scratchpad row of weight tile 0 (tile k at w_addr + k*DIM)
        ("c_addr", A),  # accumulator row of C[0]
        ("rows", ROWS),  # rows of A and C, >= 1
        ("kblocks", 12),  # K-blocks chained into one result, >= 1
        ("shift8", 1),  # 1: A is the high plane of a 16-bit tile: add (A@W) << 8
    ),
    Opcode.REQUANT: (
        ("src", A),  # accumulator tile, `blocks` column blocks of `rows` rows
        ("dst", A),  # scratchpad tile, same shape
        ("rows", ROWS),
        ("blocks", BLOCKS),
        ("param", A),  # accumulator rows: per block j, rows param+3j+{bias, mult, shift}
        ("plane", 2),  # Plane: 0 int8, 1 / 2 high / low byte plane of the 16-bit result
    ),
    Opcode.GELU: (
        ("src", A),
        ("dst", A),
        ("rows", ROWS),
        ("blocks", BLOCKS),
        ("param", A),  # per block j: param+5j+{bias, m_in, s_in, m_out, s_out}
        ("plane", 2),
    ),
    Opcode.RESADD: (
        ("src", A),  # accumulator tile (GEMM result)
        ("res", A),  # scratchpad tile (int8 residual), same shape
        ("dst", A),  # accumulator tile for the int32 sum (may equal src)
        ("rows", ROWS),
        ("blocks", BLOCKS),
        ("param", A),  # per block j: param+5j+{bias, m1, s1, m2, s2}
        ("res_wide", 1),  # 1: res is a 16-bit tile (high plane at res, low plane after it)
    ),
    Opcode.LAYERNORM: (
        ("src", A),  # accumulator tile, int32
        ("dst", A),  # scratchpad tile, int8
        ("rows", ROWS),
        ("blocks", BLOCKS),
        ("param", A),  # header (lane0 n_valid, lane1 shift), per block j: 1+2j+{gamma, beta}
        ("plane", 2),
    ),
    Opcode.ATTN: (
        ("q_addr", A),  # scratchpad: Q of one head, hd_blocks blocks of `seq` rows
        ("k_addr", A),  # scratchpad: K, same shape
        ("v_addr", A),  # scratchpad: V, same shape
        ("o_addr", A),  # scratchpad: output, same shape
        ("param", A),  # accumulator: header (m_s, s_s), per block j 1+2j+{m_o, s_o}, key mask
        ("seq", 12),  # query rows = key rows, 1..max_seq
        ("hd_blocks", 6),  # head dimension in column blocks, >= 1
    ),
}

#: Bit offset and width of every field, per opcode: {op: {name: (lsb, width)}}.
LAYOUT: dict[Opcode, dict[str, tuple[int, int]]] = {}
for _op, _fields in FIELDS.items():
    _pos = 0
    _lay: dict[str, tuple[int, int]] = {}
    for _name, _width in HEADER + _fields:
        _lay[_name] = (_pos, _width)
        _pos += _width
    if _pos > INSTR_BITS:
        raise AssertionError(f"{_op.name} needs {_pos} bits, more than {INSTR_BITS}")
    LAYOUT[_op] = _lay

#: Per-opcode parameter-block rows per column block (vector ops) or header rows (others).
PARAM_ROWS_PER_BLOCK = {Opcode.REQUANT: 3, Opcode.GELU: 5, Opcode.RESADD: 5, Opcode.LAYERNORM: 2}


def attn_param_rows(seq: int, hd_blocks: int, dim: int) -> int:
    """ACC rows an ATTN reads at ``param``: the score-scale header row, then per head-dimension
    block a row of output multipliers and a row of output shifts, then ``ceil(seq/dim)`` key-mask
    rows (mask row ``k // dim`` at ``param + 1 + 2*hd_blocks + k // dim``)."""
    return 1 + 2 * hd_blocks + -(-seq // dim)
