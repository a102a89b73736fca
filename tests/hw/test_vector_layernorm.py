"""The LAYERNORM engine in the Amaranth simulator against isa.numerics.layernorm8: random rows
with int24 clamping, n_valid below the tile width, a zero-variance row, extreme gamma/beta,
shift 0 and 62; the cycle count of isa.cycles.layernorm_cycles and its bound; and the data
checks (n_valid, shift) before the range checks, with nothing written on failure."""

from __future__ import annotations

import numpy as np
import pytest

from hw.vector import LayerNormEngine
from isa import ErrorCode, Instruction, Opcode, numerics
from isa.cycles import LN_GROUP_ROWS, check_cycles, layernorm_cycles
from isa.fields import BLOCKS, ROWS

from .vector_bench import run_engine

SP_ROWS, ACC_ROWS = 96, 128
I32 = (numerics.INT32_MIN, numerics.INT32_MAX + 1)


def _case(rng, dim, rows, blocks, n_valid, shift, *, src=2, param=70, acc_rows=ACC_ROWS):
    acc0 = rng.integers(*I32, (acc_rows, dim))
    x = rng.integers(-(1 << 26), 1 << 26, (rows, blocks * dim))  # many clamp to int24
    x[:, ::3] = rng.integers(-3000, 3000, x[:, ::3].shape)
    if rows > 1:
        x[1] = 12345  # zero variance
    if rows > 2:
        x[2, 0] = numerics.INT32_MIN
    tile = x.reshape(rows, blocks, dim).transpose(1, 0, 2).reshape(-1, dim)
    acc0[src: src + rows * blocks] = tile
    gamma = rng.integers(*I32, blocks * dim)
    beta = rng.integers(*I32, blocks * dim)
    gamma[: dim // 2] = rng.integers(-(1 << 14), 1 << 14, dim // 2)
    beta[: dim // 2] = rng.integers(-(1 << 20), 1 << 20, dim // 2)
    gamma[-1], beta[-1] = numerics.INT32_MIN, numerics.INT32_MAX
    acc0[param] = 0
    acc0[param, 0], acc0[param, 1] = n_valid, shift
    for j in range(blocks):
        acc0[param + 1 + 2 * j] = gamma[j * dim:(j + 1) * dim]
        acc0[param + 2 + 2 * j] = beta[j * dim:(j + 1) * dim]
    expect = numerics.layernorm8(x, n_valid, gamma, beta, shift)
    return acc0, expect.reshape(rows, blocks, dim).transpose(1, 0, 2).reshape(-1, dim)


@pytest.mark.parametrize("dim,rows,blocks,n_valid,shift", [
    (4, 1, 1, 4, 14), (4, 3, 2, 7, 0), (4, 6, 3, 9, 62), (8, 5, 2, 16, 20), (8, 4, 1, 3, 10),
    (4, 9, 1, 1, 16),
])
def test_layernorm_matches_numerics_and_its_cycle_formula(dim, rows, blocks, n_valid, shift):
    rng = np.random.default_rng(dim * 1000 + rows * 10 + blocks)
    acc0, expect = _case(rng, dim, rows, blocks, n_valid, shift)
    sp0 = rng.integers(-128, 128, (SP_ROWS, dim))
    ins = Instruction(Opcode.LAYERNORM, src=2, dst=11, rows=rows, blocks=blocks, param=70)
    # Products from a bank shared with an idle engine, as in the compute block.
    out = run_engine(LayerNormEngine, dim, acc0.tolist(), sp0.tolist(), ins, shared_mul=True)
    assert out["error"] == ErrorCode.NONE
    assert out["checked"] == [check_cycles(Opcode.LAYERNORM, blocks)]
    assert out["cycles"] == layernorm_cycles(rows, blocks)
    want = sp0.copy()
    want[11: 11 + rows * blocks] = expect
    assert out["sp"] == want.tolist()
    assert out["acc"] == acc0.tolist()


@pytest.mark.parametrize("rows,blocks", [(1, 48), (5, 31)])
def test_layernorm_many_blocks(rows, blocks):
    """One row of bert-base's 768 columns at DIM 16 (48 blocks; here at DIM 4): the row buffer
    holds it; 4 + 1 rows: a full group, then a buffered one."""
    dim, src, param, dst = 4, 0, rows * blocks, 3
    acc_rows, sp_rows = param + 1 + 2 * blocks, dst + rows * blocks
    rng = np.random.default_rng(rows * 100 + blocks)
    acc0, expect = _case(rng, dim, rows, blocks, blocks * dim - 3, 18, src=src, param=param,
                         acc_rows=acc_rows)
    sp0 = rng.integers(-128, 128, (sp_rows, dim))
    ins = Instruction(Opcode.LAYERNORM, src=src, dst=dst, rows=rows, blocks=blocks, param=param)
    out = run_engine(LayerNormEngine, dim, acc0.tolist(), sp0.tolist(), ins)
    assert out["error"] == ErrorCode.NONE
    assert out["cycles"] == layernorm_cycles(rows, blocks)
    want = sp0.copy()
    want[dst:] = expect
    assert out["sp"] == want.tolist()


def test_layernorm_groups_add_alike_everywhere():
    """Groups run one after another: for every admissible blocks (10-bit field), adding a full
    group adds the same cycles whatever came before, at the fewest and the most rows (16-bit
    field) of every remainder. (Until the divider went to 1 bit per cycle, 2026-12-04, this also
    held the RTL within the ``rows * (3*blocks + 112)`` the model assumed before the engine was
    built; it now takes 64 cycles more per row.)"""
    g = LN_GROUP_ROWS
    max_rows, max_blocks = (1 << ROWS) - 1, (1 << BLOCKS) - 1
    for blocks in range(1, max_blocks + 1):
        full = layernorm_cycles(2 * g, blocks) - layernorm_cycles(g, blocks)
        for rows in list(range(1, 2 * g + 1)) + list(range(max_rows - 2 * g, max_rows + 1)):
            cycles = layernorm_cycles(rows, blocks)
            if rows > g:
                assert cycles - layernorm_cycles(rows - g, blocks) == full, (rows, blocks)


@pytest.mark.parametrize("n_valid,shift,dst,src,code", [
    (0, 5, 11, 2, ErrorCode.BAD_FIELD), (9, 5, 11, 2, ErrorCode.BAD_FIELD),
    (-1, 5, 11, 2, ErrorCode.BAD_FIELD), (4, 63, 11, 2, ErrorCode.BAD_FIELD),
    (4, -1, 11, 2, ErrorCode.BAD_FIELD),
    (0, 5, SP_ROWS - 1, 2, ErrorCode.BAD_FIELD),  # data checks come before the ranges
    (4, 5, 11, ACC_ROWS - 3, ErrorCode.SRAM_RANGE), (4, 5, SP_ROWS - 3, 2, ErrorCode.SRAM_RANGE),
])
def test_layernorm_checks_data_before_writing(n_valid, shift, dst, src, code):
    dim, rows, blocks = 4, 2, 2
    rng = np.random.default_rng(3)
    acc0, _ = _case(rng, dim, rows, blocks, 5, 5)
    acc0[70, 0], acc0[70, 1] = n_valid, shift
    sp0 = rng.integers(-128, 128, (SP_ROWS, dim))
    ins = Instruction(Opcode.LAYERNORM, src=src, dst=dst, rows=rows, blocks=blocks, param=70)
    out = run_engine(LayerNormEngine, dim, acc0.tolist(), sp0.tolist(), ins)
    assert out["error"] == code
    assert out["checked"] == [check_cycles(Opcode.LAYERNORM, blocks)] == [out["cycles"]]
    assert out["sp"] == sp0.tolist()
