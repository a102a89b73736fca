"""hw/sram.py in the Amaranth simulator: an Sram built from simple-dual-port banks returns,
cycle for cycle, what one multi-ported ``lib.memory.Memory`` returns (non-transparent
synchronous reads that hold while ``en`` is low) ``SRAM_READ_LATENCY - 1`` cycles later, under
random traffic; shared roles follow their owner; bad role requests are clear errors."""

from __future__ import annotations

import random
import re
from contextlib import nullcontext

import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from hw.sram import (
    SRAM_READ_LATENCY,
    Sram,
    bank_count,
    for_synthesis,
    owner_select,
    staged_read_port,
)

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
    extra = SRAM_READ_LATENCY - 1  # the Memory's reads take one cycle
    ref_seen = {}

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
                if kind != "r":
                    continue
                ref_seen[(cycle, role)] = ctx.get(ref_p.data)
                want = ref_seen.get((cycle - extra, role), 0)
                if want != ctx.get(dut_p.data):
                    mismatches.append((cycle, role, want, ctx.get(dut_p.data)))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert mismatches == []


@pytest.mark.parametrize("synthesis", [False, True])
def test_staged_read_port_is_a_memory_read_seen_later(synthesis):
    """The engines' own block RAMs read through ``staged_read_port``: a ``Memory`` read port's
    data (with its ``en`` hold) ``SRAM_READ_LATENCY - 1`` cycles later; in the simulation model
    a read of the row written in its cycle comes back inverted (hw/fpga/bram.py: synthesis for
    ECP5 makes it don't-care), for synthesis it is the old row."""
    m = Module()
    m.submodules.ref = ref = Memory(shape=WIDTH, depth=DEPTH, init=[])
    m.submodules.dut = dut = Memory(shape=WIDTH, depth=DEPTH, init=[])
    with for_synthesis() if synthesis else nullcontext():
        ports = [(ref.write_port(), ref.read_port()),
                 (dut.write_port(), staged_read_port(m, dut, "d"))]
    rng = random.Random(7)
    got, want = [], []
    collisions = 0

    async def bench(ctx):
        nonlocal collisions
        seen = []
        for cycle in range(200):
            en, addr = rng.random() < 0.6, rng.randrange(DEPTH)
            wen, waddr, wdata = rng.random() < 0.5, rng.randrange(DEPTH), rng.randrange(1 << WIDTH)
            for wp, rp in ports:
                ctx.set(wp.en, wen)
                ctx.set(wp.addr, waddr)
                ctx.set(wp.data, wdata)
                ctx.set(rp.en, en)
                ctx.set(rp.addr, addr)
            await ctx.tick()
            hit = en and wen and addr == waddr and not synthesis
            collisions += hit
            seen.append(ctx.get(ports[0][1].data) ^ (((1 << WIDTH) - 1) if hit else 0))
            back = cycle - (SRAM_READ_LATENCY - 1)
            want.append(seen[back] if back >= 0 else 0)
            got.append(ctx.get(ports[1][1].data))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert got == want and len(set(got)) > 10
    assert synthesis or collisions > 2  # the inverted reads were exercised


def test_every_block_ram_of_the_design_is_poisoned_in_simulation():
    """The simulation model inverts a same-cycle read of a written row in every memory of the
    design (hw/fpga/bram.py relies on it), and the Verilog for synthesis has none of that."""
    from hw.top import generate_verilog
    from isa import MachineConfig

    cfg = MachineConfig(dim=4, sp_kib=4, acc_kib=4)
    sim, synth = (generate_verilog(cfg, simulation=s) for s in (True, False))
    marked = re.compile(r"\(\* encore_collision_x = 32'd1 \*\)\s+reg \[\d+:0\] (\S+) \[")
    memories = re.findall(r"^\s*reg \[\d+:0\] (\S+) \[", sim, re.M)
    poisoned = set(re.findall(r"(\S+)_collided\b", sim))
    # every SRAM bank and engine buffer (ATTN's score banks, query row and key mask, LAYERNORM's
    # row buffer); the unmarked rest are amaranth.lib.fifo's storage
    from hw.top import SRAM_ROLES
    from isa.cycles import ATTN_BANKS

    want = sum(bank_count(len(r["writes"]), len(r["reads"])) for r in SRAM_ROLES.values())
    want += ATTN_BANKS + 3
    assert len(marked.findall(sim)) == len(poisoned) == want
    assert sorted(set(memories) - set(marked.findall(sim))) == ["storage"]
    assert "_collided" not in synth and len(marked.findall(synth)) == want


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
        data = []  # (rd[0].data, rd[1].data) after each cycle from here on

        async def tick():
            await ctx.tick()
            data.append((ctx.get(rd[0].data), ctx.get(rd[1].data)))

        await tick()  # cycle 0: engine 0 owns the port before any start
        ctx.set(starts[1], 1)  # cycle 1: engine 1 owns it from its start cycle
        await tick()
        ctx.set(starts[1], 0)
        await tick()  # cycle 2: ... and keeps it after the start pulse
        ctx.set(starts[0], 1)
        await tick()  # cycle 3: engine 0 again
        for _ in range(SRAM_READ_LATENCY):
            await tick()
        # the read of cycle c arrives after SRAM_READ_LATENCY ticks; every requester sees it
        lat = SRAM_READ_LATENCY - 1
        seen.extend([data[0 + lat][1], data[1 + lat][0], data[2 + lat][0], data[3 + lat][1]])

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
