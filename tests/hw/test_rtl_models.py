"""Compiled encoders on the RTL through ``encore rtl --json``: every instruction (embedding
LayerNorm, QKV, ATTN, projection + RESADD + LAYERNORM, FFN) on Verilator, DRAM byte-equal to the
functional simulator, the RTL's cycle counter equal to the timing model's at the program's fixed
DRAM latency, and the final hidden states' cosine against PyTorch FP32 reported (equal to the
functional simulator's, since the DRAM is).

Default run: a 1-layer BERT (hidden 10, 2 heads of 5 columns: hidden and head size not
multiples of DIM) at DIM 4 through ``encore compile`` + ``encore rtl``, and an unpadded
DistilBERT batch of two lengths (not multiples of DIM) at DIM 8 through ``encore compile
--lengths`` (an unpadded program file). ``--runslow``: 2-layer BERT, RoBERTa and DistilBERT
configurations, padded and unpadded, at DIM 4, 8 and 16 (a DIM-16 Verilator build takes 2 to 10
minutes, so DIM 16 is slow only), the three sequence-classification heads, and the 1-layer BERT
on Icarus. all-MiniLM-L6-v2 with its real weights: docs/rtl.md, "Whole compiled models on the
RTL" (about 10 minutes of simulation)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from encore.cli import main
from isa import Program
from tests.helpers import save_bert

from .rtl_cases import skip_unless, small_config

pytestmark = pytest.mark.rtl


def _check(tmp_path, capsys, prog, extra=()) -> dict:
    """``encore rtl`` on a program file; its report, asserted agreeing everywhere."""
    out_json = tmp_path / "rtl.json"
    rc = main(["rtl", str(prog), "--json", str(out_json), "--no-progress", *extra])
    out = capsys.readouterr()
    assert rc == 0, out.out + out.err
    rep = json.loads(out_json.read_text())
    assert rep["dram_equal"] is True and rep["error"] is None and rep["error_index"] is None
    assert rep["fixed_latency"] and rep["cycles"] == rep["model_cycles"], rep
    assert rep["retired"] == rep["instructions"]
    acc = rep["accuracy"]
    assert acc is not None and len(acc["layers"]) >= 2
    # A tiny random model quantized to int8: far from FP32-exact, but clearly the same function.
    assert acc["final_hidden_cosine"] > 0.9, acc
    assert "DRAM matches the functional simulator bit for bit" in out.out
    return rep


def _func_cosine(prog, inputs: str) -> float:
    """The functional simulator's final-hidden cosine for the same inputs (encore/accuracy.py)."""
    from compiler.models import load_model
    from encore.accuracy import accuracy_section, reference_run
    from encore.host import run_functional

    prog = Program.load(prog)
    with np.load(inputs) as data:
        ids, mask = data["input_ids"], data["attention_mask"]
    _, _, layers = run_functional(prog, ids, mask)
    refs, _ = reference_run(load_model(prog.meta["model_source"]).model, ids, mask)
    return accuracy_section(layers, refs, mask)["final_hidden_cosine"]


def _compile_api(tmp_path, dim: int, *, kind: str, layers: int, hidden: int, heads: int,
                 lengths: list[int], seq: int, padded: bool):
    """Compile with compiler.compile_model (batches of given lengths) for the RTL tests'
    machine; returns the program file and an inputs NPZ (random ids, right-padded mask)."""
    from compiler import compile_model

    folder = save_bert(tmp_path / "m", hidden=hidden, heads=heads, ffn=hidden + 3,
                       layers=layers, max_pos=64, seed=2, kind=kind)
    cm = compile_model(str(folder), small_config(dim), seq_len=seq, lengths=lengths,
                       padded=padded, batch=len(lengths), cache=False)
    cm.program.meta["model_source"] = str(folder)
    path = tmp_path / "m.encore"
    cm.program.save(path)
    return path, _right_padded(tmp_path, lengths, seq, cm.program.meta["pad_id"])


def _right_padded(tmp_path, lengths: list[int], seq: int, pad: int) -> str:
    """An inputs NPZ: random ids of these lengths, right-padded to ``seq``."""
    rng = np.random.default_rng(3)
    mask = (np.arange(seq)[None, :] < np.asarray(lengths)[:, None]).astype(np.int64)
    ids = np.where(mask == 1, rng.integers(3, 1000, size=mask.shape), pad).astype(np.int64)
    np.savez(tmp_path / "in.npz", input_ids=ids, attention_mask=mask)
    return str(tmp_path / "in.npz")


def _bert_layer(tmp_path, capsys, sim: str):
    skip_unless(sim)
    folder = save_bert(tmp_path / "m", hidden=10, heads=2, ffn=13, layers=1, max_pos=64, seed=1)
    prog = tmp_path / "t.encore"
    # the sizes of tests/hw/rtl_cases.small_config(4): the same (cached) Verilator build
    assert main(["compile", "--model", str(folder), "--seq", "8", "--dim", "4",
                 "--sp-kib", "4", "--acc-kib", "4", "-o", str(prog)]) == 0
    capsys.readouterr()
    rep = _check(tmp_path, capsys, prog, ["--simulator", sim])
    assert rep["accuracy"]["model"] == str(folder.resolve()) and rep["simulator"] == sim


def test_compiled_bert_layer_runs_on_the_rtl(tmp_path, capsys):
    _bert_layer(tmp_path, capsys, "verilator")


@pytest.mark.slow
def test_compiled_bert_layer_on_icarus(tmp_path, capsys):
    """Icarus and the protocol-checking Python DRAM model: the same cycles (measured: 7,631 at
    DRAM latency 64, 429 cycles/s)."""
    _bert_layer(tmp_path, capsys, "icarus")


def test_unpadded_distilbert_batch_dim8(tmp_path, capsys):
    """`encore compile --lengths` (an unpadded program file), then `encore rtl` on it."""
    skip_unless("verilator")
    folder = save_bert(tmp_path / "m", hidden=12, heads=2, ffn=15, layers=1, max_pos=64, seed=2,
                       kind="distilbert")
    prog, cfg = tmp_path / "u.encore", small_config(8)
    assert main(["compile", "--model", str(folder), "--lengths", "5", "11", "--dim", "8",
                 "--sp-kib", str(cfg.sp_kib), "--acc-kib", str(cfg.acc_kib), "-o",
                 str(prog)]) == 0
    capsys.readouterr()
    loaded = Program.load(prog)
    assert loaded.meta["padded"] is False and loaded.meta["rows"] == 16
    inputs = _right_padded(tmp_path, [5, 11], 11, loaded.meta["pad_id"])
    rep = _check(tmp_path, capsys, prog, ["--inputs", inputs])
    assert rep["accuracy"]["final_hidden_cosine"] == pytest.approx(_func_cosine(prog, inputs),
                                                                   abs=1e-12)


SLOW_CASES = [  # (dim, kind, layers, hidden, heads, lengths, seq, padded)
    (4, "bert", 2, 10, 2, [21], 21, True),
    (4, "roberta", 1, 12, 3, [7, 3], 7, False),
    (4, "distilbert", 2, 9, 3, [6, 9, 2], 9, True),
    (8, "bert", 2, 20, 4, [13, 6], 13, True),
    (8, "roberta", 2, 12, 2, [9, 4], 9, False),
    (16, "bert", 1, 20, 2, [19, 7], 19, False),
    (16, "distilbert", 2, 24, 3, [9, 9], 9, True),
]


@pytest.mark.slow
@pytest.mark.parametrize("case", SLOW_CASES, ids=lambda c: f"{c[1]}-dim{c[0]}-{c[5]}")
def test_compiled_encoders_on_the_rtl(tmp_path, capsys, case):
    skip_unless("verilator")
    dim, kind, layers, hidden, heads, lengths, seq, padded = case
    path, inputs = _compile_api(tmp_path, dim, kind=kind, layers=layers, hidden=hidden,
                                heads=heads, lengths=lengths, seq=seq, padded=padded)
    _check(tmp_path, capsys, path, ["--inputs", inputs])


@pytest.mark.slow
@pytest.mark.parametrize("kind,dim", [("bert", 4), ("roberta", 8), ("distilbert", 16)])
def test_sequence_classifiers_on_the_rtl(tmp_path, capsys, kind, dim):
    """A *ForSequenceClassification model through `encore compile`: its encoder program (the
    pooler's gather and dense included) on the RTL, unpadded."""
    from tests.test_heads import save_classifier

    skip_unless("verilator")
    folder = save_classifier(tmp_path / "cls", kind, hidden=20, layers=1)
    prog, cfg = tmp_path / "c.encore", small_config(dim)
    assert main(["compile", "--model", str(folder), "--lengths", "7", "3", "--dim", str(dim),
                 "--sp-kib", str(cfg.sp_kib), "--acc-kib", str(cfg.acc_kib), "-o",
                 str(prog)]) == 0
    capsys.readouterr()
    assert Program.load(prog).meta["head"]["arch"].endswith("ForSequenceClassification")
    _check(tmp_path, capsys, prog)
