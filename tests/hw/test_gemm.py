"""GEMM sequencer + array + accumulator in the Amaranth simulator, against isa semantics."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from hw.gemm import GemmUnit, gemm_cycles
from hw.sram import staged_read_port
from isa import Instruction, Opcode

SP_ROWS, ACC_ROWS = 128, 32


def _pack(row, bits):
    return sum((int(v) & ((1 << bits) - 1)) << (bits * i) for i, v in enumerate(row))


def _unpack(word, bits, n):
    out = [(word >> (bits * i)) & ((1 << bits) - 1) for i in range(n)]
    return [v - (1 << bits) if v >> (bits - 1) else v for v in out]


@pytest.mark.parametrize("dim,rows,kblocks,acc,a_stride", [
    (4, 1, 3, 0, 5), (4, 7, 2, 1, 9), (4, 4, 4, 1, 4), (8, 3, 2, 0, 3), (8, 11, 3, 1, 12),
])
def test_gemm_unit_matches_isa(dim, rows, kblocks, acc, a_stride):
    rng = np.random.default_rng(rows * 31 + kblocks)
    sp = rng.integers(-128, 128, (SP_ROWS, dim))
    acc0 = rng.integers(-(1 << 31), 1 << 31, (ACC_ROWS, dim))
    ins = Instruction(Opcode.GEMM, accumulate=acc, a_addr=2, a_stride=a_stride,
                      w_addr=64, c_addr=5, rows=rows, kblocks=kblocks)
    m = Module()
    m.submodules.sp = sp_mem = Memory(shape=8 * dim, depth=SP_ROWS,
                                      init=[_pack(r, 8) for r in sp])
    m.submodules.acc = acc_mem = Memory(shape=32 * dim, depth=ACC_ROWS,
                                        init=[_pack(r, 32) for r in acc0])
    m.submodules.gemm = gemm = GemmUnit(dim=dim, sp_depth=SP_ROWS, acc_depth=ACC_ROWS)
    wiring.connect(m, gemm.a_rd, staged_read_port(m, sp_mem, "a_rd"))
    wiring.connect(m, gemm.w_rd, staged_read_port(m, sp_mem, "w_rd"))
    wiring.connect(m, gemm.acc_rd, staged_read_port(m, acc_mem, "acc_rd"))
    wiring.connect(m, gemm.acc_wr, acc_mem.write_port())
    cycles = []

    async def bench(ctx):
        ctx.set(gemm.instr, ins.encode())
        ctx.set(gemm.start, 1)
        await ctx.tick()
        ctx.set(gemm.start, 0)
        for n in range(1, 1000):
            if ctx.get(gemm.done):
                cycles.append(n)
                break
            await ctx.tick()
        await ctx.tick()
        got = [_unpack(ctx.get(acc_mem.data[i]), 32, dim) for i in range(ACC_ROWS)]
        cycles.append(got)

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert len(cycles) == 2, "GEMM never signalled done"
    expect = acc0.copy()
    a = np.concatenate([sp[2 + k * a_stride: 2 + k * a_stride + rows] for k in range(kblocks)], 1)
    w = sp[64: 64 + kblocks * dim]
    c = a @ w + (acc0[5: 5 + rows] if acc else 0)
    expect[5: 5 + rows] = ((c + (1 << 31)) % (1 << 32)) - (1 << 31)
    assert cycles[1] == expect.tolist()
    assert cycles[0] == gemm_cycles(rows, kblocks, dim)
