"""hw/sram.py in the Amaranth simulator: an Sram built from simple-dual-port banks and a
live-value table returns, cycle for cycle, what one multi-ported ``lib.memory.Memory`` returns
(non-transparent synchronous reads that hold while ``en`` is low) under random traffic; shared
roles follow their owner; bad role requests are clear errors."""

from __future__ import annotations

import random

import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from hw.sram import Sram, bank_count, owner_select

DEPTH, WIDTH = 16, 12


def _reference_and_dut(writes, reads):
    m = Module()
    m.submodules.ref = ref = Memory(shape=WIDTH, depth=DEPTH, init=[])
    m.submodules.dut = dut = Sram("t", width=WIDTH, depth=DEPTH, writes=writes, reads=reads)
    pairs = {}
    for w in writes:
        pairs[("w", w)] = (ref.write_port(), dut.write_port(w))
    for r in reads:
        pairs[("r", r)] = (ref.read_port(), dut.read_port(r))
    return m, pairs


@pytest.mark.parametrize("writes, reads, collide", [
    (("load",), ("store",), False),
    (("load", "compute"), ("compute", "store"), False),
    (("load", "compute"), ("compute_a", "compute_w", "store"), False),
    (("a", "b", "c"), ("x", "y"), False),
    # writers of the same row in the same cycle (the compiler's tokens prevent it; the SRAM
    # still behaves as the multi-ported Memory does: the last write port wins)
    (("load", "compute"), ("compute", "store"), True),
    (("a", "b", "c"), ("x", "y"), True),
])
def test_banked_sram_matches_a_multiported_memory(writes, reads, collide):
    m, pairs = _reference_and_dut(writes, reads)
    rng = random.Random(len(writes) * 10 + len(reads) + collide)
    mismatches = []

    async def bench(ctx):
        for cycle in range(250):
            used = set()  # the dependency tokens keep concurrent writers on different rows
            for (kind, _), (ref_p, dut_p) in pairs.items():
                en = rng.random() < 0.7
                addr = rng.randrange(4 if collide else DEPTH)
                if kind == "w":
                    if addr in used and not collide:
                        en = False
                    used.add(addr)
                    data = rng.randrange(1 << WIDTH)
                    for p in (ref_p, dut_p):
                        ctx.set(p.data, data)
                for p in (ref_p, dut_p):
                    ctx.set(p.en, en)
                    ctx.set(p.addr, addr)
            await ctx.tick()
            for (kind, role), (ref_p, dut_p) in pairs.items():
                if kind == "r" and ctx.get(ref_p.data) != ctx.get(dut_p.data):
                    mismatches.append((cycle, role, ctx.get(ref_p.data), ctx.get(dut_p.data)))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert mismatches == []


def _unelaborated(*args, **kwargs):
    sram = Sram(*args, **kwargs)
    sram._MustUse__silence = True  # built only to look at, never elaborated
    return sram


def test_bank_count():
    assert _unelaborated("sp", width=8, depth=4, writes=("load", "compute"),
                         reads=("a", "w", "store")).banks == bank_count(2, 3) == 2 * (3 + 1)
    assert bank_count(1, 2) == 2 and bank_count(3, 2) == 3 * (2 + 2)


def test_shared_role_follows_the_engine_that_started_last():
    m = Module()
    m.submodules.sram = sram = Sram("t", width=8, depth=8, writes=("w",), reads=("compute",))
    starts = [Signal(name="start0"), Signal(name="start1")]
    active = owner_select(m, starts)
    wr = sram.write_port("w")
    rd = [sram.read_port("compute", active=a) for a in active]
    seen = []

    async def bench(ctx):
        for row in range(8):
            ctx.set(wr.en, 1)
            ctx.set(wr.addr, row)
            ctx.set(wr.data, 10 + row)
            await ctx.tick()
        ctx.set(wr.en, 0)
        ctx.set(rd[0].addr, 1)
        ctx.set(rd[1].addr, 6)
        await ctx.tick()
        seen.append(ctx.get(rd[1].data))  # engine 0 owns the port before any start
        ctx.set(starts[1], 1)  # engine 1 owns it from its start cycle
        await ctx.tick()
        ctx.set(starts[1], 0)
        seen.append(ctx.get(rd[0].data))  # every requester sees the port's data
        await ctx.tick()
        seen.append(ctx.get(rd[0].data))  # ... and keeps it after the start pulse
        ctx.set(starts[0], 1)
        await ctx.tick()
        seen.append(ctx.get(rd[1].data))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert seen == [11, 16, 16, 11]


def test_port_requests_are_checked():
    sram = _unelaborated("sp", width=8, depth=4, writes=("load",), reads=("store",))
    with pytest.raises(ValueError, match="SRAM 'sp' has no read role 'compute' "
                                         r"\(it has store\)"):
        sram.read_port("compute")
    sram.read_port("store")
    with pytest.raises(ValueError, match="requested twice.*needs an `active` signal"):
        sram.read_port("store")
    with pytest.raises(ValueError, match="duplicate read role"):
        _unelaborated("x", width=8, depth=4, writes=("a",), reads=("b", "b"))


def _memories(fragment, path=()):
    from amaranth.hdl._mem import MemoryInstance

    if isinstance(fragment, MemoryInstance):
        yield path, fragment
    for sub, name, *_ in fragment.subfragments:
        yield from _memories(sub, path + (name,))


def test_every_wide_memory_of_the_top_has_block_ram_ports():
    """What makes yosys map the SRAMs to DP16KD / RAMB: every memory has one write and one
    read port."""
    from amaranth.hdl import Fragment

    from hw.top import SRAM_ROLES, EncoreTop
    from isa import MachineConfig

    cfg = MachineConfig(dim=4, sp_kib=1, acc_kib=1)
    mems = dict(_memories(Fragment.get(EncoreTop(cfg), None)))
    for name, roles in SRAM_ROLES.items():
        nw, nr = len(roles["writes"]), len(roles["reads"])
        banks = {p: f for p, f in mems.items() if p[0] == name}
        assert len(banks) == bank_count(nw, nr) == nw * (nr + nw - 1)
        depth = cfg.sp_rows if name == "sp" else cfg.acc_rows
        for f in banks.values():
            assert (len(f._read_ports), len(f._write_ports), f._data.depth) == (1, 1, depth)
    assert max(len(f._read_ports) + len(f._write_ports) for f in mems.values()) == 2
