"""Drive a pipelined Amaranth block case by case in the simulator (unit tests of hw/ stages)."""

from __future__ import annotations

from amaranth.sim import Simulator


def run_cases(m, inputs, cases, latency: int, read) -> list:
    """For each case (a tuple of values, one per signal of ``inputs``): set the inputs, let
    ``latency`` clock edges pass, and collect ``read(ctx)``. Returns what was collected."""
    got = []

    async def bench(ctx):
        for case in cases:
            for sig, val in zip(inputs, case, strict=True):
                ctx.set(sig, val)
            for _ in range(latency):
                await ctx.tick()
            got.append(read(ctx))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return got
