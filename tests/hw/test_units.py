"""Unit tests in the Amaranth simulator: instruction layouts, checks, DMA row geometry, and the
control register block."""

from __future__ import annotations

from pathlib import Path

from amaranth.sim import Simulator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hw.checks import IMPLEMENTED, RUNTIME_CHECKED, InstrChecker
from hw.isa_layout import instr_layout
from hw.regs import OFFSETS, REGISTERS, RegisterBlock, register_map_markdown
from hw.streams import RowGeometry
from isa import LAYOUT, ErrorCode, Instruction, MachineConfig, Opcode, Program, queue_of
from sim.errors import SimError
from sim.functional import FunctionalSim

CFG = MachineConfig(dim=4, sp_kib=1, acc_kib=1)  # 256 SP rows, 64 ACC rows


def _simulate(dut, bench, *, clocked=True):
    sim = Simulator(dut)
    if clocked:
        sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def _small(width):
    """Field values that land on both sides of every range check."""
    top = (1 << width) - 1
    return st.one_of(st.integers(0, min(3, top)), st.integers(0, min(300, top)),
                     st.integers(0, top))


@st.composite
def instructions(draw, ops=tuple(Opcode)):
    op = draw(st.sampled_from(ops))
    fields = {name: draw(_small(width)) for name, (_, width) in LAYOUT[op].items()
              if name != "opcode"}
    return Instruction(op, **fields)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(instructions())
def test_layout_decodes_what_isa_encodes(ins):
    view = instr_layout(ins.op).from_bits(ins.encode())
    assert view.opcode == ins.op
    for name, value in ins.f.items():
        assert getattr(view, name) == value, name


def _expected_error(ins: Instruction, dram_size: int) -> ErrorCode:
    if ins.op not in IMPLEMENTED:
        # Dependency errors come first; with no tokens yet any pop is one.
        flags = any(ins.f[f] for f in ("pop_prev", "pop_next"))
        q = queue_of(ins.op)
        missing = (q.name == "LOAD" and (ins.pop_prev or ins.push_prev)) or \
                  (q.name == "STORE" and (ins.pop_next or ins.push_next))
        return ErrorCode.DEPENDENCY if flags or missing else ErrorCode.UNIMPLEMENTED
    prog = Program(config=CFG, instructions=[ins], dram_init=b"", dram_size=dram_size)
    try:
        FunctionalSim(prog).run()
    except SimError as e:
        return e.code
    return ErrorCode.NONE


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(instructions(), st.integers(1, 4096)), min_size=40, max_size=40))
def test_checker_matches_functional_sim(batch):
    dut = InstrChecker(CFG)
    got = []

    async def bench(ctx):
        ctx.set(dut.pop_prev_ok, 0)
        ctx.set(dut.pop_next_ok, 0)
        for ins, size in batch:
            ctx.set(dut.word, ins.encode())
            ctx.set(dut.dram_size, size)
            err = ErrorCode(ctx.get(dut.error))
            if err == ErrorCode.NONE and ins.op == Opcode.LAYERNORM:
                # Decided when it runs: the accumulator is zero, so n_valid = 0 fails first.
                err = ErrorCode.BAD_FIELD
            elif err == ErrorCode.NONE and ins.op in RUNTIME_CHECKED:
                # Decided when it runs: shift check (all shifts 0 here: the accumulator is
                # zero), then the res / dst ranges, which the checker computes as late_error.
                err = ErrorCode(ctx.get(dut.late_error))
            got.append((err, ctx.get(dut.queue)))

    _simulate(dut, bench, clocked=False)
    for (ins, size), (err, queue) in zip(batch, got, strict=True):
        assert err == _expected_error(ins, size), (ins, size)
        assert queue == queue_of(ins.op)


def test_checker_flags_illegal_opcode_and_unused_bits():
    dut = InstrChecker(CFG)
    got = []

    async def bench(ctx):
        for word in (31, 9, Instruction(Opcode.NOP).encode() | 1 << 127):
            ctx.set(dut.word, word)
            got.append(ErrorCode(ctx.get(dut.error)))

    _simulate(dut, bench, clocked=False)
    assert got == [ErrorCode.ILLEGAL_OPCODE, ErrorCode.ILLEGAL_OPCODE, ErrorCode.BAD_FIELD]


@settings(max_examples=5, deadline=None)
@given(st.lists(st.tuples(st.integers(0, (1 << 32) - 600), st.integers(1, 64)),
                min_size=50, max_size=50), st.sampled_from([4, 16, 64]))
def test_row_geometry(rows, bus):
    dut = RowGeometry(bus_bytes=bus, max_row_bytes=64)
    got = []

    async def bench(ctx):
        for addr, nbytes in rows:
            ctx.set(dut.addr, addr)
            ctx.set(dut.nbytes, nbytes)
            got.append((ctx.get(dut.beat_addr), ctx.get(dut.offset), ctx.get(dut.nbeats),
                        ctx.get(dut.first_beats)))

    _simulate(dut, bench, clocked=False)
    for (addr, nbytes), (beat_addr, offset, nbeats, first) in zip(rows, got, strict=True):
        assert beat_addr == addr - addr % bus and offset == addr % bus
        assert nbeats == -(-(addr + nbytes) // bus) - addr // bus
        boundary = (beat_addr // 4096 + 1) * 4096
        assert first == min(nbeats, (boundary - beat_addr) // bus)


def test_register_block_over_axi_lite():
    dut = RegisterBlock()
    log = {}

    async def write(ctx, addr, value, strb=0xF):
        bus = dut.bus
        ctx.set(bus.awaddr, addr)
        ctx.set(bus.awvalid, 1)
        ctx.set(bus.wdata, value)
        ctx.set(bus.wstrb, strb)
        ctx.set(bus.wvalid, 1)
        ctx.set(bus.bready, 1)
        for _ in range(10):
            accepted = ctx.get(bus.awready) and ctx.get(bus.wready)
            await ctx.tick()
            if accepted:
                ctx.set(bus.awvalid, 0)
                ctx.set(bus.wvalid, 0)
            if ctx.get(bus.bvalid):
                await ctx.tick()
                ctx.set(bus.bready, 0)
                return
        raise AssertionError("no write response")

    async def read(ctx, addr):
        bus = dut.bus
        ctx.set(bus.araddr, addr)
        ctx.set(bus.arvalid, 1)
        ctx.set(bus.rready, 1)
        for _ in range(10):
            accepted = ctx.get(bus.arready)
            await ctx.tick()
            if accepted:
                ctx.set(bus.arvalid, 0)
            if ctx.get(bus.rvalid):
                value = ctx.get(bus.rdata)
                await ctx.tick()
                ctx.set(bus.rready, 0)
                return value
        raise AssertionError("no read response")

    async def bench(ctx):
        ctx.set(dut.cycles, 0xDEADBEEF)
        await write(ctx, OFFSETS["prog_addr"], 0x12345678)
        await write(ctx, OFFSETS["prog_addr"], 0xAB00, strb=0b0010)  # one byte only
        log["prog_addr"] = await read(ctx, OFFSETS["prog_addr"])
        log["port"] = ctx.get(dut.prog_addr)
        log["cycles"] = await read(ctx, OFFSETS["cycles"])
        log["unmapped"] = await read(ctx, 0xFC)
        await write(ctx, OFFSETS["ctrl"], 1)
        log["ctrl_read"] = await read(ctx, OFFSETS["ctrl"])

    _simulate(dut, bench)
    assert log == {"prog_addr": 0x1234AB78, "port": 0x1234AB78, "cycles": 0xDEADBEEF,
                   "unmapped": 0, "ctrl_read": 0}


def test_register_map_in_docs_is_generated_from_the_table():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "rtl.md").read_text()
    assert register_map_markdown() in doc
    assert len({r.offset for r in REGISTERS}) == len(REGISTERS)


def test_ctrl_start_is_a_one_cycle_pulse():
    dut = RegisterBlock()
    seen = []

    async def bench(ctx):
        bus = dut.bus
        ctx.set(bus.awaddr, OFFSETS["ctrl"])
        ctx.set(bus.awvalid, 1)
        ctx.set(bus.wdata, 1)
        ctx.set(bus.wstrb, 0xF)
        ctx.set(bus.wvalid, 1)
        ctx.set(bus.bready, 1)
        await ctx.tick()
        ctx.set(bus.awvalid, 0)
        ctx.set(bus.wvalid, 0)
        for _ in range(4):
            seen.append(ctx.get(dut.ctrl))
            await ctx.tick()

    _simulate(dut, bench)
    assert seen == [1, 0, 0, 0]
