"""PE and systolic array against numpy, in the Amaranth simulator (async testbenches)."""

from __future__ import annotations

import gc
import warnings

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.array import SystolicArray, psum_width
from hw.pe import PE
from isa.cycles import PE_PRODUCT_STAGES


def run(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def test_pe_double_buffer_and_mac():
    pe = PE(psum_width=20)
    seen = []

    async def bench(ctx):
        for buf, w in ((0, -7), (1, 127)):
            ctx.set(pe.w_en, 1)
            ctx.set(pe.w_buf, buf)
            ctx.set(pe.w_data, w)
            await ctx.tick()
        ctx.set(pe.w_en, 0)
        # the product of an activation meets the partial sum of the next cycle
        # (isa.cycles.PE_PRODUCT_STAGES = 1); the activation and sel move on at once
        for a, sel, psum in ((-128, 0, 11), (-128, 1, 5), (3, 0, -3), (0, 0, 0)):
            ctx.set(pe.a_in, a)
            ctx.set(pe.sel_in, sel)
            ctx.set(pe.psum_in, psum)
            await ctx.tick()
            seen.append((ctx.get(pe.psum_out), ctx.get(pe.a_out), ctx.get(pe.sel_out)))

    run(pe, bench)
    assert PE_PRODUCT_STAGES == 1
    assert seen == [(11, -128, 0), (5 + 896, -128, 1), (-3 - 16256, 3, 0), (-21, 0, 0)]


def test_pe_rejects_narrow_psum():
    # The half-built component warns "unused elaboratable" when collected: expected here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="psum_width must be an int >= 16"):
            PE(psum_width=8)
        gc.collect()


@pytest.mark.parametrize("dim", [4, 8])
def test_array_back_to_back_tiles(dim):
    """Two weight tiles, the second loaded into the shadow buffer while the first computes,
    on the same schedule the GEMM sequencer uses (period max(rows, dim))."""
    rng = np.random.default_rng(dim)
    rows = [1, dim + 3, 2]  # short, long and short tiles stress the buffer-reuse rule
    tiles = [rng.integers(-128, 128, (dim, dim)) for _ in rows]
    acts = [rng.integers(-128, 128, (r, dim)) for r in rows]
    # Extreme values: the sum of DIM products of -128 * -128 must not overflow the psum.
    tiles[0][:] = -128
    acts[0][:] = -128
    arr = SystolicArray(dim=dim, tag_width=16)
    results = {}

    async def bench(ctx):
        t = 0
        schedule = {}  # cycle -> list of actions
        for k, r in enumerate(rows):
            period = max(r, dim)
            for j in range(dim):
                schedule.setdefault(t + j, []).append(("w", k, j))
            for i in range(r):
                schedule.setdefault(t + 1 + i, []).append(("a", k, i))
            t += period
        end = max(schedule) + arr.latency + 2
        for cyc in range(end):
            ctx.set(arr.w_en, 0)
            ctx.set(arr.a_valid, 0)
            for kind, k, j in schedule.get(cyc, []):
                if kind == "w":
                    ctx.set(arr.w_en, 1)
                    ctx.set(arr.w_idx, j)
                    ctx.set(arr.w_buf, k % 2)
                    ctx.set(arr.w_row, [int(v) for v in tiles[k][j]])
                else:
                    ctx.set(arr.a_valid, 1)
                    ctx.set(arr.a_sel, k % 2)
                    ctx.set(arr.a_row, [int(v) for v in acts[k][j]])
                    ctx.set(arr.a_tag, k * 256 + j)
            await ctx.tick()
            if ctx.get(arr.c_valid):
                results[ctx.get(arr.c_tag)] = [ctx.get(arr.c_row[n]) for n in range(dim)]

    run(arr, bench)
    for k, r in enumerate(rows):
        expect = acts[k] @ tiles[k]
        for i in range(r):
            assert results[k * 256 + i] == list(expect[i]), (k, i)
    assert len(results) == sum(rows)


def test_psum_width_is_exact_bound():
    for dim in (4, 16, 128):
        bound = dim * 128 * 128
        assert bound < 1 << (psum_width(dim) - 1)
