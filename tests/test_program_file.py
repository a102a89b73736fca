"""Program files of unpadded (packed) model programs: `encore compile --lengths` writes them,
`encore simulate` loads and runs them bit-identically to the program in memory, and every
header check of isa/program_checks.py still refuses an edited header, naming the field."""

from __future__ import annotations

import numpy as np
import pytest

from encore import errors
from encore.cli import main
from encore.host import run_functional
from isa import Program, ProgramFileError
from tests import mutate
from tests.helpers import save_bert

LENGTHS = [3, 6, 1]  # DIM 4: 1 + 2 + 1 key blocks; 10 packed rows of 3 x 6 = 18 padded


@pytest.fixture(scope="module")
def unpadded(tmp_path_factory):
    """(path, bytes) of `encore compile --lengths 3 6 1` of a tiny RoBERTa at DIM 4."""
    tmp = tmp_path_factory.mktemp("unpadded")
    folder = save_bert(tmp / "m", hidden=12, heads=2, ffn=16, layers=1, max_pos=16, seed=4,
                       kind="roberta")
    path = tmp / "u.encore"
    assert main(["compile", "--model", str(folder), "--lengths", *map(str, LENGTHS), "--dim",
                 "4", "--sp-kib", "4", "--acc-kib", "4", "-o", str(path)]) == 0
    return path, path.read_bytes()


def _inputs(tmp_path, lengths, width, pad=1):
    rng = np.random.default_rng(5)
    mask = (np.arange(width)[None, :] < np.asarray(lengths)[:, None]).astype(np.int64)
    ids = np.where(mask == 1, rng.integers(3, 1000, size=mask.shape), pad).astype(np.int64)
    npz = tmp_path / "in.npz"
    np.savez(npz, input_ids=ids, attention_mask=mask)
    return ids, mask, npz


def test_unpadded_program_file_loads_and_runs(unpadded, tmp_path, capsys):
    from compiler import compile_model

    path, _ = unpadded
    prog = Program.load(path)
    meta = prog.meta
    assert meta["padded"] is False and meta["lengths"] == LENGTHS and meta["seq"] == 6
    assert prog.tensor("input.emb").rows == meta["rows"] == sum(LENGTHS)
    assert prog.tensor("input.mask").rows == 1 + 2 + 1
    ids, mask, npz = _inputs(tmp_path, LENGTHS, 6)
    out = tmp_path / "o.npz"
    assert main(["simulate", str(path), "--inputs", str(npz), "--save-outputs", str(out)]) == 0
    # The same model compiled in memory (compiler API): the file's program computes the same
    # int8 outputs, and `encore simulate` saved them dequantized at the real tokens.
    same = compile_model(meta["model_source"], prog.config, seq_len=6, lengths=LENGTHS,
                         padded=False).program
    a, _, layers = run_functional(prog, ids, mask)
    b, _, _ = run_functional(same, ids, mask)
    name = meta["output"]
    assert np.array_equal(prog.read_tensor(a.dram, name), same.read_tensor(b.dram, name))
    with np.load(out) as saved:
        assert np.array_equal(saved["hidden_states"], layers[-1])
        assert np.array_equal(saved["attention_mask"], mask)
    assert not saved_padding_nonzero(layers[-1], mask)
    assert main(["simulate", str(path)]) == 0  # seeded random ids of the compiled lengths
    assert "simulated" in capsys.readouterr().out


def saved_padding_nonzero(hidden: np.ndarray, mask: np.ndarray) -> bool:
    """Whether an unpadded run's dequantized output has anything at a padding slot."""
    return bool(np.any(hidden[mask == 0]))


def test_unpadded_inputs_of_other_lengths_are_refused(unpadded, tmp_path, capsys):
    path, _ = unpadded
    *_, npz = _inputs(tmp_path, [6, 6, 1], 6)
    assert main(["simulate", str(path), "--inputs", str(npz)]) == errors.BAD_INPUT
    assert ("input lengths [6, 6, 1] differ from the lengths [3, 6, 1] the unpadded program "
            "was compiled for") in capsys.readouterr().err


def test_compile_lengths_usage_errors(unpadded, tmp_path, capsys):
    folder = unpadded[0].parent / "m"
    argv = ["compile", "--model", str(folder), "-o", str(tmp_path / "x.encore")]
    assert main([*argv, "--lengths", "3", "4", "--batch", "3"]) == errors.BAD_INPUT
    assert "--batch 3 disagrees with the 2 --lengths" in capsys.readouterr().err
    assert main([*argv, "--lengths", "3", "9", "--seq", "8"]) == errors.BAD_INPUT
    assert "a length of 9 exceeds seq_len=8" in capsys.readouterr().err


@pytest.mark.parametrize("path, value, message", [
    (("meta", "lengths"), [3, 6], "'meta.lengths' is [3, 6]: expected a list of batch=3"),
    (("meta", "lengths"), None, "'meta.lengths' is None: expected a list of batch=3"),
    (("meta", "lengths"), [3, 7, 1], "'meta.lengths[1]' is 7: expected in [1, 6]"),
    (("meta", "lengths"), [3, 0, 1], "'meta.lengths[1]' is 0: expected in [1, 6]"),
    (("meta", "lengths"), [4, 4, 2], "'meta.lengths' disagrees with tensor input.mask (4x4; "
     "expected 3x4: ceil(rows/DIM) per sequence of [4, 4, 2])"),  # the same 10 rows
    (("meta", "lengths"), [2, 6, 1], "'meta.rows' is 10: expected sum(meta.lengths)=9"),
    (("meta", "padded"), "no", "'meta.padded' is 'no': expected true or false"),
    (("meta", "padded"), True, "'meta.rows' is 10: expected batch*seq=18"),
    (("meta", "rows"), 11, "'meta.rows' is 11: expected sum(meta.lengths)=10 (unpadded)"),
])
def test_edited_unpadded_headers_are_refused(unpadded, tmp_path, capsys, path, value, message):
    p = tmp_path / "bad.encore"
    p.write_bytes(mutate.with_header(unpadded[1], path, value))
    with pytest.raises(ProgramFileError) as e:
        Program.load(p)
    assert message in str(e.value)
    assert main(["simulate", str(p)]) == errors.BAD_PROGRAM_FILE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "header field" in err


def test_edited_tensor_rows_of_an_unpadded_file_are_refused(unpadded, tmp_path):
    header = mutate.split(unpadded[1])[1]
    k = next(i for i, t in enumerate(header["tensors"]) if t["name"] == "input.emb")
    p = tmp_path / "bad.encore"
    p.write_bytes(mutate.with_header(unpadded[1], ("tensors", k, "rows"), 18))
    with pytest.raises(ProgramFileError, match=r"'meta.lengths' gives sum\(meta.lengths\)=10 "
                       r"\(unpadded\) rows, which disagree with tensor input.emb \(18 rows\)"):
        Program.load(p)
