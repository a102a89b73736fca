"""Shared pieces of the fuzz tests: one small compiled model program, the run of a (possibly
altered) program through loader, functional simulator and timing model, and the property that
both simulators agree."""

from __future__ import annotations

import contextlib
import functools
import io
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, settings

from isa import ErrorCode, MachineConfig, Program, ProgramFileError
from isa.program import ProgramInstructionError
from sim.errors import SimError

#: Default run: a few hundred examples in total (well under a minute); the slow variants
#: (``--runslow``) run ``SLOW`` examples each.
FAST = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(FAST, max_examples=1500)

#: BAD_FIELD messages of checks on data (the timing model reads no data: sim/checks.py).
DATA_CHECKS = ("shift parameter", "n_valid")


@functools.lru_cache(maxsize=1)
def model_program_bytes() -> bytes:
    """A 1-layer BERT (hidden 16, 2 heads) compiled for DIM=4, seq 5: ~100 instructions."""
    from compiler import compile_model
    from tests.helpers import save_bert

    folder = Path(tempfile.mkdtemp(prefix="encore-fuzz-")) / "tiny"
    cfg = MachineConfig(dim=4, sp_kib=16, acc_kib=16, max_seq=8)
    with contextlib.redirect_stderr(io.StringIO()):  # transformers' progress bars
        save_bert(folder, hidden=16, heads=2, ffn=32, layers=1, max_pos=16, seed=0)
        cm = compile_model(str(folder), cfg, seq_len=5, quant={"use_gptq": False})
    return cm.program.to_bytes()


@dataclass
class Outcome:
    load_error: ProgramFileError | None = None
    functional: SimError | None = None
    timing: SimError | None = None
    input_error: ValueError | None = None


def host_inputs(prog: Program):
    from encore.host import prepare_inputs

    b, t = prog.meta["batch"], prog.meta["seq"]
    ids = np.full((b, t), 3, dtype=np.int64)
    return prepare_inputs(prog, ids, np.ones((b, t), dtype=np.int64))


def run_all(data: bytes) -> Outcome:
    """Load, then run both simulators; only the documented exceptions are caught."""
    import sim.timing
    from sim.functional import run_program

    out = Outcome()
    try:
        prog = Program.from_bytes(data)
    except ProgramFileError as e:
        out.load_error = e
        return out
    try:
        inputs = host_inputs(prog)
    except ValueError as e:  # the host's input checks (e.g. a tensor shape the file changed)
        out.input_error = e
        inputs = None
    try:
        run_program(prog, inputs)
    except SimError as e:
        out.functional = e
    try:
        sim.timing.estimate(prog)
    except SimError as e:
        out.timing = e
    return out


def check_agreement(out: Outcome) -> None:
    """Both simulators report the same code, index and message, except that the functional
    simulator may stop earlier on a check of data."""
    f, t = out.functional, out.timing
    if f is None:
        assert t is None, f"timing model: {t}; the functional simulator ran without error"
        return
    if f.code == ErrorCode.BAD_FIELD and any(k in f.detail for k in DATA_CHECKS):
        assert t is None or t.index >= f.index, (f, t)
        return
    assert t is not None, f"functional simulator: {f}; the timing model reports nothing"
    assert (t.code, t.index, t.detail) == (f.code, f.index, f.detail)


def check_instruction_error(e: ProgramFileError, index: int) -> None:
    assert isinstance(e, ProgramInstructionError), e
    assert e.code in (ErrorCode.ILLEGAL_OPCODE, ErrorCode.BAD_FIELD) and e.index == index
