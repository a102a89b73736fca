"""Random differential programs (tests/hw/randprog.py) on the functional simulator and the RTL:
DRAM, error code and index equal (and, on the fixed-latency DRAM, cycles equal to the timing
model's). A few seeds in the default run, many under --runslow; a failure names its seed and
the command that replays it."""

from __future__ import annotations

import pytest

from .randprog import ALL_OPS, INVALID, invalid_program, reference, run_on_rtl, valid_program
from .rtl_cases import skip_unless, small_config


@pytest.mark.parametrize("dim", [4, 8])
def test_generator_makes_what_it_claims(dim):
    """Valid programs use every opcode and run without error; each invalid one fails its own
    check, with that check's code, at the instruction the generator made bad."""
    cfg = small_config(dim)
    for seed in range(2):
        rp = valid_program(cfg, seed)
        assert {ins.op for ins in rp.program.instructions} == set(ALL_OPS)
        assert reference(rp)[1:] == (0, None), rp.replay()
    for n, (kind, code) in enumerate(INVALID.items()):
        rp = invalid_program(cfg, n, kind)
        assert reference(rp)[1:] == (code, rp.bad_index), rp.replay()


def _cases(dim: int, valid_seeds, invalid_seeds):
    cfg = small_config(dim)
    kinds = list(INVALID)
    cases = [valid_program(cfg, s) for s in valid_seeds]
    cases += [invalid_program(cfg, s, kinds[s % len(kinds)]) for s in invalid_seeds]
    return cases


@pytest.mark.rtl
def test_random_programs_on_the_rtl(tmp_path):
    skip_unless("verilator")
    found = run_on_rtl(_cases(4, range(4), range(8)), workdir=tmp_path)
    assert not found, "\n".join(found)


@pytest.mark.rtl
@pytest.mark.slow
@pytest.mark.parametrize("dim", [4, 8])
def test_many_random_programs_on_the_rtl(dim, tmp_path):
    skip_unless("verilator")
    found = run_on_rtl(_cases(dim, range(100, 160), range(3 * len(INVALID))), workdir=tmp_path)
    assert not found, "\n".join(found)


@pytest.mark.rtl
def test_load_zero_fills_the_lanes_past_cols(tmp_path):
    """Found by the random programs (seed 137): a LOAD of cols < DIM into the scratchpad or
    the accumulator must write zeros, not the next DRAM bytes' low bits, into lanes >= cols."""
    import numpy as np

    from hw.rtlsim.runner import RtlJob, run_jobs
    from isa import Instruction, Mem, Opcode, Program
    from sim.functional import run_program

    skip_unless("verilator")
    cfg = small_config(4)
    init = np.full(1024, 0xFF, dtype=np.uint8).tobytes()  # every bit of the next lane set
    progs = []
    for mem, cols in ((Mem.SP, 1), (Mem.SP, 3), (Mem.ACC, 2)):
        nb = 4 * (4 if mem == Mem.ACC else 1)
        load = Instruction(Opcode.LOAD, mem=mem, sram_addr=5, rows=3, cols=cols, dram_addr=3,
                           dram_stride=7, push_next=1)
        nop = Instruction(Opcode.NOP, pop_prev=1, push_next=1)
        store = Instruction(Opcode.STORE, mem=mem, sram_addr=5, rows=3, cols=4,
                            dram_addr=512, dram_stride=nb, pop_prev=1)
        progs.append(Program(config=cfg, instructions=[load, nop, store], dram_init=init,
                             dram_size=1024))
    results = run_jobs(cfg, [RtlJob.fixed(p, p.new_dram()) for p in progs], workdir=tmp_path)
    for prog, res in zip(progs, results, strict=True):
        func, _ = run_program(prog)
        assert res.dram[512:560].tolist() == func.dram[512:560].tolist(), prog.instructions[0]
