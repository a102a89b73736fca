"""Compiler front end: import against PyTorch, and clear errors for unsupported input."""

import numpy as np
import pytest
import torch

from compiler import compile_model
from compiler.graph import import_model
from compiler.models import load_model
from encore.host import tokenize
from isa import MachineConfig
from tests.helpers import save_bert, save_gpt2_config


@pytest.mark.parametrize("kind", ["bert", "distilbert", "roberta"])
def test_graph_forward_matches_pytorch(tmp_path, kind):
    folder = save_bert(tmp_path / kind, hidden=64, heads=4, ffn=96, kind=kind)
    lm = load_model(str(folder))
    g = import_model(lm.model)
    rng = np.random.default_rng(0)
    ids = rng.integers(5, 1000, size=(2, 17))
    mask = np.ones_like(ids)
    mask[1, 9:] = 0
    ids[1, 9:] = g.pad_id
    with torch.no_grad():
        ref = lm.model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask),
                       output_hidden_states=True).hidden_states
    ours = g.forward(ids, mask)
    keep = mask.astype(bool)
    for r, o in zip(ref, ours, strict=True):
        assert np.abs(r.double().numpy()[keep] - o[keep]).max() < 1e-4


def test_unsupported_architecture(tmp_path):
    with pytest.raises(ValueError, match=r"unsupported architecture 'gpt2'.*bert, distilbert"):
        load_model(str(save_gpt2_config(tmp_path / "gpt2")))


def test_unknown_model_name():
    with pytest.raises(ValueError, match=r"unknown model 'bert-huge': expected one of minilm-l6"):
        load_model("bert-huge")


def test_folder_without_config(tmp_path):
    with pytest.raises(ValueError, match="has no config.json"):
        load_model(str(tmp_path))


def test_sequence_longer_than_positions(tmp_path):
    folder = save_bert(tmp_path / "m", hidden=32, heads=2, ffn=64, layers=1, max_pos=40)
    with pytest.raises(ValueError, match="longer than the model's 40 positions"):
        compile_model(str(folder), MachineConfig(dim=8), seq_len=41)


def test_sequence_longer_than_attention_engine(tmp_path):
    folder = save_bert(tmp_path / "m", hidden=32, heads=2, ffn=64, layers=1, max_pos=128)
    with pytest.raises(ValueError, match="exceeds the attention engine's max_seq=64"):
        compile_model(str(folder), MachineConfig(dim=8, max_seq=64), seq_len=100)


def test_empty_and_too_long_text():
    tok = load_model("minilm-l6").tokenizer
    with pytest.raises(ValueError, match="input text 1 is empty"):
        tokenize(tok, ["hello", "   "], 16)
    with pytest.raises(ValueError, match="more than --seq 4"):
        tokenize(tok, ["a b c d e f"], 4)
    with pytest.raises(ValueError, match="no input text"):
        tokenize(tok, [], 4)


def test_gptq_changes_weight_codes_not_instructions(tmp_path):
    """The latency benchmarks compile without GPTQ: it must leave the instruction stream alone."""
    folder = save_bert(tmp_path / "m", hidden=48, heads=3, ffn=80, layers=2)
    cfg = MachineConfig(dim=8, sp_kib=16, acc_kib=16)
    a = compile_model(str(folder), cfg, seq_len=9, batch=2).program
    b = compile_model(str(folder), cfg, seq_len=9, batch=2, quant={"use_gptq": False}).program
    assert [x.encode() for x in a.instructions] == [x.encode() for x in b.instructions]
    assert a.dram_size == b.dram_size
    assert not np.array_equal(a.dram_init, b.dram_init)  # the weight codes do differ


def test_gptq_without_calibration_rows_is_a_clear_error(tmp_path):
    from compiler.graph import import_model
    from compiler.quantize import Calibration, calibrate, quantize

    folder = save_bert(tmp_path / "m", hidden=48, heads=3, ffn=80, layers=1)
    graph = import_model(load_model(str(folder)).model)
    ids = np.full((1, 5), 7, dtype=np.int64)
    calib = calibrate(graph, ids, np.ones_like(ids))
    stats_only = Calibration(calib.stats)
    with pytest.raises(ValueError, match=r"GPTQ needs the calibration rows of 'emb_out'"):
        quantize(graph, stats_only, 8)
    quantize(graph, stats_only, 8, use_gptq=False)  # nearest rounding needs the maxima only
