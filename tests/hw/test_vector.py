"""The vector unit (REQUANT) in the Amaranth simulator, against isa.numerics.requant8: random
data with saturation at both steps, rounding ties, shift 0 and 62, multi-block tiles, the
cycle count of isa.cycles.vector_cycles, and the data-dependent checks (BAD_FIELD for a shift
outside [0, 62], then SRAM_RANGE for the destination) with nothing written on failure."""

from __future__ import annotations

import numpy as np
import pytest

from hw.vector import RequantEngine
from isa import ErrorCode, Instruction, Opcode, numerics
from isa.cycles import check_cycles, vector_cycles

from .vector_bench import run_engine

SP_ROWS, ACC_ROWS = 128, 96


def _run(dim, acc0, sp0, ins):
    """Run one REQUANT; returns (busy cycles, checked cycles, error, final SP rows)."""
    return run_engine(RequantEngine, dim, np.asarray(acc0).tolist(), np.asarray(sp0).tolist(), ins,
                      shared_mul=True)  # products from a bank shared with an idle engine


def _params(rng, dim, blocks, *, ties=False):
    """[blocks, 3, dim] parameter rows: bias, m, s with extremes, shift 0 and 62 included."""
    p = np.zeros((blocks, 3, dim), dtype=np.int64)
    p[:, 0] = rng.integers(numerics.INT32_MIN, numerics.INT32_MAX + 1, (blocks, dim))
    p[:, 0, 0] = numerics.INT32_MAX  # saturates sat32(x + bias) upward for x > 0
    p[:, 1] = rng.integers(numerics.INT32_MIN, numerics.INT32_MAX + 1, (blocks, dim))
    p[:, 1, 1] = numerics.INT32_MIN
    p[:, 2] = rng.integers(0, numerics.MAX_SHIFT + 1, (blocks, dim))
    p[:, 2, 0] = numerics.MAX_SHIFT
    p[:, 2, 1] = 0
    if ties:  # small multipliers and shifts: many exact halves, little saturation
        p[:, 0] = rng.integers(-64, 64, (blocks, dim))
        p[:, 1] = rng.integers(-3, 4, (blocks, dim))
        p[:, 2] = rng.integers(0, 5, (blocks, dim))
    return p


@pytest.mark.parametrize("dim,rows,blocks,ties", [
    (4, 1, 1, False), (4, 7, 3, False), (4, 5, 2, True), (8, 3, 2, False), (8, 9, 1, True),
])
def test_vector_unit_matches_requant8(dim, rows, blocks, ties):
    rng = np.random.default_rng(dim * 100 + rows * 10 + blocks)
    acc0 = rng.integers(numerics.INT32_MIN, numerics.INT32_MAX + 1, (ACC_ROWS, dim))
    if ties:
        acc0 = rng.integers(-300, 300, (ACC_ROWS, dim))
    sp0 = rng.integers(-128, 128, (SP_ROWS, dim))
    src, dst, param = 3, 40, 60
    p = _params(rng, dim, blocks, ties=ties)
    acc0[param: param + 3 * blocks] = p.reshape(-1, dim)
    ins = Instruction(Opcode.REQUANT, src=src, dst=dst, rows=rows, blocks=blocks, param=param)
    out = _run(dim, acc0, sp0, ins)
    assert out["error"] == ErrorCode.NONE
    assert out["cycles"] == vector_cycles(Opcode.REQUANT, rows, blocks)
    assert out["checked"] == [check_cycles(Opcode.REQUANT, blocks)]
    x = acc0[src: src + rows * blocks].reshape(blocks, rows, dim)
    expect = sp0.copy()
    expect[dst: dst + rows * blocks] = numerics.requant8(
        x, p[:, 0][:, None], p[:, 1][:, None], p[:, 2][:, None]).reshape(-1, dim)
    assert out["sp"] == expect.tolist()
    if ties:  # the case exercised what it claims to
        prod = numerics.bias_add(x, p[:, 0][:, None]) * p[:, 1][:, None]
        s = np.broadcast_to(p[:, 2][:, None], prod.shape)
        tie = (s > 0) & (np.mod(prod, 1 << s) == (1 << np.maximum(s - 1, 0)))
        assert tie.sum() >= 3


@pytest.mark.parametrize("bad,dst,code", [
    (-1, 40, ErrorCode.BAD_FIELD), (63, 40, ErrorCode.BAD_FIELD),
    (1 << 31, SP_ROWS - 4, ErrorCode.BAD_FIELD),  # shift check comes before the dst range
    (None, SP_ROWS - 4, ErrorCode.SRAM_RANGE),
])
def test_vector_unit_checks_data_before_writing(bad, dst, code):
    dim, rows, blocks = 4, 3, 3
    rng = np.random.default_rng(5)
    acc0 = rng.integers(-1000, 1000, (ACC_ROWS, dim))
    sp0 = rng.integers(-128, 128, (SP_ROWS, dim))
    p = _params(rng, dim, blocks)
    if bad is not None:
        p[2, 2, 3] = bad - (1 << 32) if bad >= 1 << 31 else bad  # the last block's last lane
    acc0[60: 60 + 3 * blocks] = p.reshape(-1, dim)
    ins = Instruction(Opcode.REQUANT, src=0, dst=dst, rows=rows, blocks=blocks, param=60)
    out = _run(dim, acc0, sp0, ins)
    assert out["error"] == code
    assert out["checked"] == [check_cycles(Opcode.REQUANT, blocks)] == [out["cycles"]]
    assert out["sp"] == sp0.tolist()
