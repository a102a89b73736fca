"""Property-based fuzzing of compiled programs: altered instruction words and headers
(re-checksummed), random bytes and truncations, through loader, functional simulator and timing
model. Only documented exceptions may escape, and both simulators agree on code and index."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isa import INSTR_BITS, LAYOUT, Opcode, Program, ProgramFileError
from tests import mutate
from tests.fuzzing import (
    FAST,
    SLOW,
    check_agreement,
    check_instruction_error,
    model_program_bytes,
    run_all,
)

N = len(Program.from_bytes(model_program_bytes()).instructions)


@st.composite
def altered_word(draw):
    """(index, new word): bit flips, a field set to a random value, or a random word."""
    data = model_program_bytes()
    i = draw(st.integers(0, N - 1))
    word = mutate.word_at(data, i)
    how = draw(st.sampled_from(("flip", "field", "random")))
    if how == "flip":
        for b in draw(st.lists(st.integers(0, INSTR_BITS - 1), min_size=1, max_size=3)):
            word ^= 1 << b
    elif how == "field":
        lay = LAYOUT[Opcode(word & 0x1F)]
        name = draw(st.sampled_from(sorted(lay)))
        lsb, width = lay[name]
        value = draw(st.integers(0, (1 << width) - 1))
        word = (word & ~(((1 << width) - 1) << lsb)) | (value << lsb)
    else:
        word = draw(st.integers(0, (1 << INSTR_BITS) - 1))
    return i, word


def _check_word(case) -> None:
    i, word = case
    out = run_all(mutate.with_word(model_program_bytes(), i, word))
    if out.load_error is not None:
        check_instruction_error(out.load_error, i)
        return
    assert out.input_error is None
    check_agreement(out)


@FAST
@given(altered_word())
def test_altered_instruction_words(case):
    _check_word(case)


@pytest.mark.slow
@SLOW
@given(altered_word())
def test_altered_instruction_words_many(case):
    _check_word(case)


_VALUES = st.one_of(st.integers(-2, 70000), st.sampled_from([0, 1, 4, 8, 1 << 32, -1]),
                    st.none(), st.text(max_size=3), st.booleans(), st.floats(allow_nan=False),
                    st.lists(st.integers(0, 9), max_size=3))


@st.composite
def altered_header(draw):
    """(path into the header, new value)."""
    _, header, _ = mutate.split(model_program_bytes())
    top = draw(st.sampled_from(("config", "tensors", "meta", "sizes")))
    if top == "config":
        path = ("config", draw(st.sampled_from(sorted(header["config"]))))
    elif top == "tensors":
        k = draw(st.integers(0, len(header["tensors"]) - 1))
        path = ("tensors", k, draw(st.sampled_from(sorted(header["tensors"][k]))))
    elif top == "meta":
        path = ("meta", draw(st.sampled_from(sorted(header["meta"]))))
    else:
        path = (draw(st.sampled_from(("dram_size", "dram_init_bytes", "n_instructions"))),)
    node = header
    for key in path:
        node = node[key]
    near = [node + d for d in (-1, 1, 4)] if isinstance(node, int) else []
    value = draw(st.one_of(_VALUES, st.sampled_from(near or [None])))
    return path, value


def _check_header(case) -> None:
    path, value = case
    out = run_all(mutate.with_header(model_program_bytes(), path, value))
    if out.load_error is None:
        assert out.input_error is None, f"{path}={value!r} loads but the host refuses it"
        check_agreement(out)


@FAST
@given(altered_header())
def test_altered_headers(case):
    _check_header(case)


@pytest.mark.slow
@SLOW
@given(altered_header())
def test_altered_headers_many(case):
    _check_header(case)


@FAST
@given(st.data())
def test_random_bytes_truncations_and_flips(data):
    """Random files, truncations and prefixes are refused; a flipped byte is refused or (inside
    the header's JSON, which the payload checksum does not cover) loads and runs cleanly."""
    good = model_program_bytes()
    how = data.draw(st.sampled_from(("random", "truncate", "flip", "prefix")))
    if how == "flip":
        pos = data.draw(st.integers(0, len(good) - 1))
        blob = good[:pos] + bytes([good[pos] ^ data.draw(st.integers(1, 255))]) + good[pos + 1 :]
        out = run_all(blob)
        if out.load_error is None:
            check_agreement(out)
        return
    if how == "random":
        blob = data.draw(st.binary(max_size=256))
    elif how == "truncate":
        blob = good[: data.draw(st.integers(0, len(good) - 1))]
    else:
        blob = good[:20] + data.draw(st.binary(max_size=64))
    with pytest.raises(ProgramFileError):
        Program.from_bytes(blob)
