"""Altered instruction words through the RTL: the same error code and index as the functional
simulator (or the loader, for words that do not decode), and never a hang. One Hypothesis
example is a batch of mutants run in one simulator process."""

from __future__ import annotations

import functools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.testprogs import linear_chain_program
from hw.checks import IMPLEMENTED
from hw.rtlsim.runner import RtlJob, run_jobs, simulator_available
from isa import INSTR_BITS, INSTR_BYTES, LAYOUT, ErrorCode, Opcode, Program
from isa.program import ProgramInstructionError
from sim.errors import SimError
from sim.functional import run_program
from tests import mutate
from tests.fuzzing import FAST

from .rtl_cases import small_config

pytestmark = pytest.mark.rtl
DIM = 4
BUILT = {int(op) for op in IMPLEMENTED}


@functools.lru_cache(maxsize=1)
def _base():
    """A chain of three linear layers with REQUANT between them (~40 instructions)."""
    cfg = small_config(DIM)
    prog, inputs = linear_chain_program(cfg, 5, [7, 6, 9, 5], seed=3)[:2]
    return cfg, prog, inputs


@st.composite
def mutant(draw, n: int):
    """(index, word) with an opcode the RTL implements or none at all (the RTL raises
    UNIMPLEMENTED where the functional simulator executes)."""
    i = draw(st.integers(0, n - 1))
    word = draw(st.integers(0, (1 << INSTR_BITS) - 1))
    how = draw(st.sampled_from(("flip", "field", "random")))
    return i, how, word, draw(st.integers(0, 127)), draw(st.integers(0, (1 << 32) - 1))


def _apply(data: bytes, case) -> tuple[int, int]:
    i, how, rnd, bit, value = case
    word = mutate.word_at(data, i)
    if how == "flip":
        word ^= 1 << bit
    elif how == "field":
        lay = LAYOUT[Opcode(word & 0x1F)]
        names = sorted(lay)
        lsb, width = lay[names[bit % len(names)]]
        word = (word & ~(((1 << width) - 1) << lsb)) | ((value % (1 << width)) << lsb)
    else:
        word = rnd
    if (word & 0x1F) in {int(op) for op in Opcode} - BUILT:
        word = (word & ~0x1F) | int(Opcode.NOP)
    return i, word


def _expected(data: bytes, inputs) -> tuple[ErrorCode, int, Program | None]:
    try:
        prog = Program.from_bytes(data)
    except ProgramInstructionError as e:
        return e.code, e.index, None
    try:
        run_program(prog, inputs)
    except SimError as e:
        return e.code, e.index, prog
    return ErrorCode.NONE, 0, prog


def _check(cases) -> None:
    reason = simulator_available("verilator")
    if reason:
        pytest.skip(reason)
    cfg, prog, inputs = _base()
    data = prog.to_bytes()
    jobs, words, expect = [], [], []
    for n, case in enumerate(cases):
        i, word = _apply(data, case)
        altered = mutate.with_word(data, i, word)
        code, index, _ = _expected(altered, inputs)
        dram = prog.new_dram()
        for k, v in inputs.items():
            prog.write_tensor(dram, k, v)
        _, _, payload = mutate.split(altered)
        words.append(payload[: len(prog.instructions) * INSTR_BYTES])
        jobs.append(RtlJob(prog, dram, seed=n, latency=(2, 20), max_cycles=3_000_000))
        expect.append((case, i, word, code, index))
    results = run_jobs(cfg, jobs, words=words)
    for (case, i, word, code, index), res in zip(expect, results, strict=True):
        regs = res.regs
        what = f"word {i} = {word:#x} ({case[1]})"
        assert not regs["timed_out"], f"{what}: the RTL did not finish"
        assert regs["irq"] == 1 and regs["model_errors"] == [], what
        assert (ErrorCode(regs["error"]), regs["error_index"]) == (code, index), what


@settings(FAST, max_examples=1)
@given(st.lists(mutant(len(_base()[1].instructions)), min_size=8, max_size=8))
def test_rtl_agrees_on_altered_words(cases):
    _check(cases)


@pytest.mark.slow
@settings(FAST, max_examples=6)
@given(st.lists(mutant(len(_base()[1].instructions)), min_size=20, max_size=20))
def test_rtl_agrees_on_altered_words_many(cases):
    _check(cases)

