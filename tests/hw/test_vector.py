"""The vector unit (REQUANT) in the Amaranth simulator, against isa.numerics.requant8: random
data with saturation at both steps, rounding ties, shift 0 and 62, multi-block tiles, the
cycle count of hw.vector.vector_cycles, and the data-dependent checks (BAD_FIELD for a shift
outside [0, 62], then SRAM_RANGE for the destination) with nothing written on failure."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from hw.vector import RequantEngine
from isa import ErrorCode, Instruction, Opcode, numerics
from isa.cycles import check_cycles, vector_cycles

SP_ROWS, ACC_ROWS = 128, 96


def _pack(row, bits):
    return sum((int(v) & ((1 << bits) - 1)) << (bits * i) for i, v in enumerate(row))


def _unpack(word, bits, n):
    out = [(word >> (bits * i)) & ((1 << bits) - 1) for i in range(n)]
    return [v - (1 << bits) if v >> (bits - 1) else v for v in out]


def _run(dim, acc0, sp0, ins):
    """Run one instruction; returns (busy cycles, checked cycle, error, final SP rows)."""
    m = Module()
    m.submodules.sp = sp_mem = Memory(shape=8 * dim, depth=SP_ROWS, init=[_pack(r, 8) for r in sp0])
    m.submodules.acc = acc_mem = Memory(shape=32 * dim, depth=ACC_ROWS,
                                        init=[_pack(r, 32) for r in acc0])
    m.submodules.vec = vec = RequantEngine(dim=dim, sp_depth=SP_ROWS, acc_depth=ACC_ROWS)
    wiring.connect(m, vec.acc_rd, acc_mem.read_port())
    wiring.connect(m, vec.sp_wr, sp_mem.write_port())
    out = {}

    async def bench(ctx):
        ctx.set(vec.instr, ins.encode())
        ctx.set(vec.start, 1)
        await ctx.tick()
        ctx.set(vec.start, 0)
        busy = 0
        for n in range(1, 5000):
            busy += ctx.get(vec.busy)
            if ctx.get(vec.checked):
                out.setdefault("checked", []).append(n)
            if ctx.get(vec.done):
                out["cycles"], out["error"] = n, ErrorCode(ctx.get(vec.error))
                out["busy"] = busy
                break
            await ctx.tick()
        await ctx.tick()
        out["busy_after"] = ctx.get(vec.busy)
        out["sp"] = [_unpack(ctx.get(sp_mem.data[i]), 8, dim) for i in range(SP_ROWS)]

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert "cycles" in out, "the vector unit never signalled done"
    assert out["busy_after"] == 0 and out["busy"] == out["cycles"]
    return out


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
