"""The command line end to end on altered program files: a documented exit status, and on an
error exactly one line on stderr, never a traceback."""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from encore import errors
from encore.cli import main
from tests import mutate
from tests.fuzzing import FAST, SLOW, model_program_bytes
from tests.test_fuzz_programs import altered_header, altered_word

EXPECTED = {errors.OK, errors.BAD_PROGRAM_FILE, errors.PROGRAM_ERROR}


def _simulate(data: bytes) -> tuple[int, str]:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "p.encore"
        path.write_bytes(data)
        err, out = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            rc = main(["simulate", str(path)])
    return rc, err.getvalue()


def _check(data: bytes) -> None:
    rc, err = _simulate(data)
    assert rc in EXPECTED and "Traceback" not in err, err
    if rc != errors.OK:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("encore simulate: error: "), err
        if rc == errors.PROGRAM_ERROR:
            assert " at instruction " in lines[0]


ALTERED = st.one_of(altered_word().map(lambda c: ("word", c)),
                    altered_header().map(lambda c: ("header", c)))


def _altered_file(case) -> bytes:
    kind, (where, value) = case
    data = model_program_bytes()
    if kind == "word":
        return mutate.with_word(data, where, value)
    return mutate.with_header(data, where, value)


@settings(FAST, max_examples=12)
@given(ALTERED)
def test_simulate_on_altered_files(case):
    _check(_altered_file(case))


@pytest.mark.slow
@settings(SLOW, max_examples=300)
@given(ALTERED)
def test_simulate_on_altered_files_many(case):
    _check(_altered_file(case))
