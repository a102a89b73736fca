"""The `encore` command line: reports, files, and one-line errors for user mistakes."""

import json

import numpy as np
import pytest

from encore.cli import main
from tests.helpers import save_bert, save_gpt2_config


@pytest.fixture(scope="module")
def odd_model(tmp_path_factory):
    return save_bert(tmp_path_factory.mktemp("m") / "odd", hidden=48, heads=3, ffn=80, layers=1)


def test_run_writes_report_and_outputs(tmp_path, odd_model, capsys):
    js, npz = tmp_path / "r.json", tmp_path / "o.npz"
    assert main(["run", "--model", str(odd_model), "--seq", "19", "--batch", "2", "--dim", "8",
                 "--json", str(js), "--save-outputs", str(npz)]) == 0
    out = capsys.readouterr().out
    assert "Accuracy vs PyTorch FP32" in out and "Sentence embedding" in out
    r = json.loads(js.read_text())
    assert r["model"] == "odd" and r["seq_len"] == 19 and r["dim"] == 8
    assert r["program"]["instructions"] == sum(r["program"]["by_opcode"].values())
    assert len(r["accuracy"]["embedding_cosine"]) == 2
    assert {"name", "cosine", "max_abs_err"} <= set(r["accuracy"]["layers"][0])
    assert {"compile", "simulate", "pytorch"} <= set(r["wall_s"])
    data = np.load(npz)
    assert data["hidden_states"].shape == (2, 19, 48) and data["hidden_states"].dtype == np.float32
    assert data["input_ids"].shape == data["attention_mask"].shape == (2, 19)


def test_compile_then_simulate(tmp_path, odd_model, capsys):
    prog = tmp_path / "p.encore"
    assert main(["compile", "--model", str(odd_model), "--seq", "11", "--dim", "4",
                 "--sp-kib", "64", "-o", str(prog)]) == 0
    npz = tmp_path / "o.npz"
    assert main(["simulate", str(prog), "--save-outputs", str(npz)]) == 0
    assert "simulated" in capsys.readouterr().out
    assert np.load(npz)["hidden_states"].shape == (1, 11, 48)


@pytest.mark.parametrize("argv, message", [
    (["run", "--model", "gpt-5"], "unknown model 'gpt-5'"),
    (["run", "--model", "minilm-l6", "--dim", "12"], "array size dim=12 cannot be addressed"),
    (["run", "--model", "minilm-l6", "--text", ""], "input text 0 is empty"),
    (["run", "--model", "minilm-l6", "--seq", "600", "--text", "hi"], "longer than the model"),
    (["simulate", "/nonexistent.encore"], "does not exist"),
])
def test_user_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_gpt2_folder_is_rejected(tmp_path, capsys):
    assert main(["run", "--model", str(save_gpt2_config(tmp_path / "g"))]) == 2
    assert "unsupported architecture 'gpt2'" in capsys.readouterr().err


def test_corrupt_program_file(tmp_path, capsys):
    bad = tmp_path / "bad.encore"
    bad.write_bytes(b"ENCOREPG" + b"\x00" * 5)
    assert main(["simulate", str(bad)]) == 2
    assert "is not an Encore program file" in capsys.readouterr().err
