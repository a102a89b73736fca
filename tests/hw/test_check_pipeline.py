"""The word checks pipelined into the fetch buffer (hw/fetch.py, isa.cycles.FETCH_CHECK_STAGES).

* The fetch unit alone (Amaranth simulator): every fetched word comes out of the buffer with the
  check results of the one-cycle reference checker (``hw.checks.InstrChecker``, itself checked
  against the functional simulator in test_units.py), using ``dram_size`` as it was at START,
  exactly ``FETCH_BUFFER_CYCLES`` after its R beat.
* The whole machine (Verilator): an error found by a pipelined check, behind a full buffer of
  back-to-back fetches, stops the run at the index and with the code of the functional
  simulator (DEPENDENCY from the dispatcher's token count still before the DRAM range of the
  same word), with nothing after it retired; and a program of back-to-back fetches takes
  exactly the timing model's cycles.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from amaranth.sim import Simulator
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import sim.timing
from hw.checks import InstrChecker
from hw.fetch import FetchUnit
from isa import ErrorCode, Instruction, MachineConfig, Mem, Opcode, Program
from isa import cycles as isa_cycles
from sim.errors import SimError
from sim.functional import run_program

from .rtl_cases import linear_jobs, skip_unless, small_config
from .test_units import instructions

CFG = MachineConfig(dim=4, sp_kib=1, acc_kib=1)  # 256 SP rows, 64 ACC rows
LAT = 5  # DRAM read latency of the fetch bench (cycles from AR to R)


def _reference(words: list[int], dram_size: int) -> list[tuple[int, int]]:
    """(error, queue) of the one-cycle checker for each word, with every pop token present."""
    dut = InstrChecker(CFG)
    out = []

    async def bench(ctx):
        ctx.set(dut.pop_prev_ok, 1)
        ctx.set(dut.pop_next_ok, 1)
        ctx.set(dut.dram_size, dram_size)
        for w in words:
            ctx.set(dut.word, w)
            out.append((ctx.get(dut.error), ctx.get(dut.queue)))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    return out


def _fetch(words: list[int], dram_size: int, later_dram_size: int):
    """Run the fetch unit over ``words`` (DRAM latency LAT, 16-byte bus, the dispatcher taking
    every word at once); ``dram_size`` is changed to ``later_dram_size`` right after START.
    Returns [(cycle of the word's R beat, cycle it is valid at the buffer output, payload)]."""
    dut = FetchUnit(bus_bytes=16, cfg=CFG)
    beats, seen = {}, []

    async def bench(ctx):
        ctx.set(dut.prog_addr, 0)
        ctx.set(dut.prog_len, len(words))
        ctx.set(dut.dram_size, dram_size)
        ctx.set(dut.start, 1)
        ctx.set(dut.ar.ready, 1)
        ctx.set(dut.instr.ready, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        ctx.set(dut.dram_size, later_dram_size)
        pending = {}  # cycle -> word index whose beat the DRAM presents then
        cycle, requested = 1, 0
        while len(seen) < len(words):
            assert cycle < 40 * len(words) + 100, "fetch stalled"
            k = pending.pop(cycle, None)
            ctx.set(dut.r.valid, k is not None)
            ctx.set(dut.r.payload, 0 if k is None else words[k])
            ctx.set(dut.rresp, 0)
            if k is not None:
                beats[k] = cycle
            if ctx.get(dut.ar.valid):
                assert ctx.get(dut.ar.payload.addr) == 16 * requested
                pending[cycle + LAT] = requested
                requested += 1
            if ctx.get(dut.instr.valid):
                seen.append((cycle, ctx.get(dut.instr.payload)))
            await ctx.tick()
            cycle += 1

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return [(beats[k], c, p) for k, (c, p) in enumerate(seen)]


def _error(p) -> ErrorCode:
    """hw.checks.dispatch_error of a buffered word with every token present."""
    return ErrorCode(int(p.pre_error) or int(p.post_error))


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])  # no shrinking: slow
@given(st.lists(instructions(), min_size=20, max_size=20), st.integers(1, 4096),
       st.sampled_from([0, 1 << 31]))
def test_fetched_words_carry_the_reference_checks(batch, dram_size, later):
    words = [ins.encode() for ins in batch] + [31, Instruction(Opcode.NOP).encode() | 1 << 127]
    ref = _reference(words, dram_size)
    got = _fetch(words, dram_size, later)
    assert len(got) == len(words)
    for w, (beat, valid, p), (err, queue) in zip(words, got, ref, strict=True):
        assert p.word == w
        assert valid - beat == isa_cycles.FETCH_BUFFER_CYCLES == 5
        assert p.bus_error == 0
        # The dispatcher's part with every token present (underflow 0): the reference's error.
        assert _error(p) == err
        if err != ErrorCode.ILLEGAL_OPCODE:
            assert p.queue == queue


def test_dram_range_is_checked_against_the_size_at_start():
    load = Instruction(Opcode.LOAD, mem=Mem.SP, sram_addr=0, rows=3, cols=4, dram_addr=100,
                       dram_stride=50)  # last byte 100 + 2*50 + 4 - 1 = 203
    words = [load.encode()] * 2
    for size, code in ((204, ErrorCode.NONE), (203, ErrorCode.DRAM_RANGE)):
        for later in (0, 1 << 31):
            got = _fetch(words, size, later)
            assert [_error(p) for _, _, p in got] == [code] * 2


# -- the whole machine ------------------------------------------------------------------------

def _with(prog, instructions):
    """``prog`` with other instructions (its layer spans dropped: they no longer apply)."""
    meta = {k: v for k, v in prog.meta.items() if k != "layer_spans"}
    return dataclasses.replace(prog, instructions=list(instructions), meta=meta)


@pytest.mark.rtl
def test_pipelined_errors_stop_the_run_and_fetch_bound_cycles_match(tmp_path):
    skip_unless("verilator")
    cfg = small_config(4)
    prog, inputs, _, _ = linear_jobs(cfg, [(6, 9, 5, True, False)])[0]
    ins = prog.instructions
    nops = [Instruction(Opcode.NOP)] * 12  # back-to-back fetches: the buffer runs full
    far = Instruction(Opcode.LOAD, mem=Mem.SP, sram_addr=0, rows=2, cols=4,
                      dram_addr=prog.dram_size - 4, dram_stride=4)  # 4 bytes past the end
    cases = [  # (name, program, code, index)
        ("dram_range_after_nops", _with(prog, nops + [far] + ins), ErrorCode.DRAM_RANGE, 12),
        # Token count (dispatcher) before the DRAM range (fetch pipeline) of the same word.
        ("underflow_before_dram_range", _with(prog, nops + [far.with_deps(pop_next=1)] + ins),
         ErrorCode.DEPENDENCY, 12),
        ("dram_range_first_word", _with(prog, [far] + ins), ErrorCode.DRAM_RANGE, 0),
        ("dram_range_last_word", _with(prog, ins + [far]), ErrorCode.DRAM_RANGE, len(ins)),
    ]
    ok = [("nops_then_program", _with(prog, nops + ins)),
          ("program_then_nops", _with(prog, ins + nops)),
          ("one_nop", _with(prog, [Instruction(Opcode.NOP)]))]
    jobs = []
    for _, p, *_ in cases + ok:
        dram = p.new_dram()
        for k, v in inputs.items():
            p.write_tensor(dram, k, v)
        jobs.append((p, dram))
    # Errors on the random-latency DRAM; cycles on the fixed-latency one.
    from hw.rtlsim.runner import RtlJob, run_jobs

    runs = [RtlJob(p, d, seed=3, latency=(2, 30), max_cycles=50_000)
            for p, d in jobs[:len(cases)]]
    runs += [RtlJob.fixed(p, d) for p, d in jobs[len(cases):]]
    results = run_jobs(cfg, runs, workdir=tmp_path)
    for (name, p, code, index), res in zip(cases, results[:len(cases)], strict=True):
        regs = res.regs
        assert not regs["timed_out"] and regs["irq"] == 1 and regs["status"] == 2, name
        assert (ErrorCode(regs["error"]), regs["error_index"]) == (code, index), name
        assert regs["retired"] == index, name
        with pytest.raises(SimError) as err:
            run_program(p, inputs)
        assert (err.value.code, err.value.index) == (code, index), name
        before, _ = run_program(_with(p, p.instructions[:index]), inputs)
        assert np.array_equal(res.dram, before.dram), name
    for (name, p), res in zip(ok, results[len(cases):], strict=True):
        regs = res.regs
        assert regs["error"] == 0 and regs["retired"] == len(p.instructions), name
        assert regs["cycles"] == sim.timing.estimate(p).cycles, name
    # One NOP: request in cycle 1, its beat L later, the check stages and the buffer, the queue,
    # the start cycle, one busy cycle.
    assert results[-1].regs["cycles"] == cfg.dram_latency + 1 + 5 + 2 + 1 + 1


def test_one_instruction_program_estimate_counts_the_check_stages():
    cfg = small_config(4)
    prog = Program(config=cfg, instructions=[Instruction(Opcode.NOP)], dram_init=b"",
                   dram_size=64)
    assert sim.timing.estimate(prog).cycles == cfg.dram_latency + 10
