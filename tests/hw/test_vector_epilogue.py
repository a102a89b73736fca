"""The GELU and RESADD engines in the Amaranth simulator against isa.numerics (gelu8, resadd):
random data with saturation at every step, shift 0 and 62, int32 limits, multi-block tiles,
RESADD in place (dst == src); the cycle count of isa.cycles.vector_cycles; and the data check
(BAD_FIELD for any shift outside [0, 62], before the res / dst range checks) with nothing
written on failure."""

from __future__ import annotations

import numpy as np
import pytest

from hw.vector import GeluEngine, ResaddEngine
from isa import ErrorCode, Instruction, Opcode, numerics
from isa.cycles import check_cycles, vector_cycles

from .vector_bench import run_engine

SP_ROWS, ACC_ROWS = 96, 128
I32 = (numerics.INT32_MIN, numerics.INT32_MAX + 1)
PARAM = 80


def _params(rng, dim, blocks, op):
    """[blocks, 5, dim]: bias, multiplier, shift, multiplier, shift, with extremes."""
    p = np.zeros((blocks, 5, dim), dtype=np.int64)
    p[:, 0] = rng.integers(*I32, (blocks, dim))
    p[:, 0, 0] = numerics.INT32_MAX
    p[:, 0, 1] = rng.integers(-100, 100)
    for k in (1, 3):
        p[:, k] = rng.integers(*I32, (blocks, dim))
        p[:, k, 1] = numerics.INT32_MIN
    p[:, 2] = rng.integers(20, 40, (blocks, dim))  # GELU: moderate fixed-point inputs
    p[:, 4] = rng.integers(20, numerics.MAX_SHIFT + 1, (blocks, dim))
    p[:, 2, 0], p[:, 4, 0] = numerics.MAX_SHIFT, 0
    if op == Opcode.GELU:  # input scale into GELU's interesting range [-8, 8] (2^12 units)
        p[:, 1] = rng.integers(1 << 20, 1 << 24, (blocks, dim)) * rng.choice([-1, 1], (blocks, dim))
        p[:, 0] = rng.integers(-(1 << 12), 1 << 12, (blocks, dim))
        p[:, 0, 0] = numerics.INT32_MAX
        p[:, 2] = rng.integers(20, 25, (blocks, dim))
        p[:, 3] = rng.integers(1 << 24, 1 << 28, (blocks, dim))
        p[:, 4] = rng.integers(30, 36, (blocks, dim))
    return p


def _expect(op, x, p, res):
    q = [p[:, k][:, None] for k in range(5)]
    if op == Opcode.GELU:
        return numerics.gelu8(x, *q)
    return numerics.resadd(x, q[0], q[1], q[2], res, q[3], q[4])


CASES = [(Opcode.GELU, 4, 1, 1, False), (Opcode.GELU, 4, 7, 3, False),
         (Opcode.GELU, 8, 5, 2, False), (Opcode.RESADD, 4, 1, 1, False),
         (Opcode.RESADD, 4, 6, 3, False), (Opcode.RESADD, 8, 3, 2, False),
         (Opcode.RESADD, 4, 5, 2, True), (Opcode.RESADD, 8, 2, 3, True)]


@pytest.mark.parametrize("op,dim,rows,blocks,in_place", CASES)
def test_engine_matches_numerics(op, dim, rows, blocks, in_place):
    rng = np.random.default_rng(int(op) * 1000 + dim * 100 + rows * 10 + blocks)
    acc0 = rng.integers(*I32, (ACC_ROWS, dim))
    acc0[:40:3] = rng.integers(-(1 << 12), 1 << 12, acc0[:40:3].shape)
    if op == Opcode.GELU:
        acc0[1:40:3] = rng.integers(-(1 << 15), 1 << 15, acc0[1:40:3].shape)
    sp0 = rng.integers(-128, 128, (SP_ROWS, dim))
    sp0[5] = -128
    p = _params(rng, dim, blocks, op)
    acc0[PARAM: PARAM + 5 * blocks] = p.reshape(-1, dim)
    n = rows * blocks
    src, res = 3, 4
    dst = src if in_place else 40
    ins = Instruction(op, src=src, dst=dst, rows=rows, blocks=blocks, param=PARAM,
                      **({"res": res} if op == Opcode.RESADD else {}))
    cls = GeluEngine if op == Opcode.GELU else ResaddEngine
    # Products from a bank shared with an idle engine, as in the compute block.
    out = run_engine(cls, dim, acc0.tolist(), sp0.tolist(), ins, shared_mul=True)
    assert out["error"] == ErrorCode.NONE
    assert out["cycles"] == vector_cycles(op, rows, blocks)
    assert out["checked"] == [check_cycles(op, blocks)]
    x = acc0[src: src + n].reshape(blocks, rows, dim)
    r = sp0[res: res + n].reshape(blocks, rows, dim)
    got = _expect(op, x, p, r).reshape(-1, dim)
    want_sp, want_acc = sp0.copy(), acc0.copy()
    (want_sp if op == Opcode.GELU else want_acc)[dst: dst + n] = got
    assert out["sp"] == want_sp.tolist()
    assert out["acc"] == want_acc.tolist()
    if op == Opcode.GELU and n > 1:  # the data reached GELU's curved part, not only limits
        assert np.count_nonzero(np.abs(got) < 127) > 2 and np.unique(got).size > 4


@pytest.mark.parametrize("op", [Opcode.GELU, Opcode.RESADD])
@pytest.mark.parametrize("row,bad,dst,code", [
    (2, -1, 40, ErrorCode.BAD_FIELD), (4, 63, 40, ErrorCode.BAD_FIELD),
    (4, 1 << 31, None, ErrorCode.BAD_FIELD),  # the shift check comes before the ranges
    (None, None, None, ErrorCode.SRAM_RANGE),
])
def test_engine_checks_data_before_writing(op, row, bad, dst, code):
    dim, rows, blocks = 4, 3, 3
    rng = np.random.default_rng(9)
    acc0 = rng.integers(-1000, 1000, (ACC_ROWS, dim))
    sp0 = rng.integers(-128, 128, (SP_ROWS, dim))
    p = _params(rng, dim, blocks, op)
    if bad is not None:
        p[2, row, 3] = bad - (1 << 32) if bad >= 1 << 31 else bad  # last block, last lane
    acc0[PARAM: PARAM + 5 * blocks] = p.reshape(-1, dim)
    limit = SP_ROWS if op == Opcode.GELU else ACC_ROWS
    ins = Instruction(op, src=0, dst=limit - 4 if dst is None else dst, rows=rows,
                      blocks=blocks, param=PARAM, **({"res": 0} if op == Opcode.RESADD else {}))
    cls = GeluEngine if op == Opcode.GELU else ResaddEngine
    out = run_engine(cls, dim, acc0.tolist(), sp0.tolist(), ins)
    assert out["error"] == code
    assert out["checked"] == [check_cycles(op, blocks)] == [out["cycles"]]
    assert out["sp"] == sp0.tolist() and out["acc"] == acc0.tolist()


def test_resadd_res_range_comes_before_dst_range():
    dim = 4
    acc0 = np.zeros((ACC_ROWS, dim), dtype=np.int64)
    sp0 = np.zeros((SP_ROWS, dim), dtype=np.int64)
    ins = Instruction(Opcode.RESADD, src=0, res=SP_ROWS - 1, dst=ACC_ROWS - 1, rows=2, blocks=1,
                      param=PARAM)
    out = run_engine(ResaddEngine, dim, acc0.tolist(), sp0.tolist(), ins)
    assert out["error"] == ErrorCode.SRAM_RANGE and out["acc"] == acc0.tolist()
