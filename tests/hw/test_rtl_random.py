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
