"""Unpadded programs, batch independence and the quantized-model cache (tiny seeded models).

Exact comparisons: the 16-bit outputs (act_bits 16, the default) are compared as integers
(bit-identical), useful MACs as integers between programs that must agree.
"""

import json

import numpy as np
import pytest

from compiler import cache, compile_model, load_model
from encore.host import prepare_inputs, run_functional
from isa import MachineConfig
from sim import timing
from tests.helpers import save_bert

CFG = MachineConfig(dim=8)
SENTENCES = 5  # distinct random "sentences" of lengths 1..13


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = save_bert(tmp_path_factory.mktemp("m") / "tiny", hidden=40, heads=2, ffn=72,
                       layers=2, kind="roberta")
    return load_model(str(folder))


@pytest.fixture(scope="module")
def sentences():
    rng = np.random.default_rng(7)
    lengths = [1, 4, 13, 2, 9]
    return [rng.integers(5, 1000, size=n) for n in lengths[:SENTENCES]]


def _compile(loaded, **kw):
    return compile_model(None, CFG, loaded=loaded, **kw)


def _batch(seqs, width):
    ids = np.ones((len(seqs), width), dtype=np.int64)  # RoBERTa pad id 1
    mask = np.zeros_like(ids)
    for i, s in enumerate(seqs):
        ids[i, : len(s)], mask[i, : len(s)] = s, 1
    return ids, mask


def _outputs(model, seqs, padded, width=None):
    """16-bit final-layer rows of every sequence (its real tokens only)."""
    width = width or max(len(s) for s in seqs)
    ids, mask = _batch(seqs, width)
    cm = _compile(model, seq_len=width, lengths=[len(s) for s in seqs],
                       padded=padded)
    sim, _, _ = run_functional(cm.program, ids, mask)
    out = cm.program.read_tensor(sim.dram, cm.program.meta["output"])
    rows = np.flatnonzero(mask.reshape(-1)) if padded else np.arange(int(mask.sum()))
    real = out[rows]
    bounds = np.cumsum([0] + [len(s) for s in seqs])
    return [real[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)], cm.program


def test_padded_and_unpadded_are_bit_identical(tiny, sentences):
    pad, p_prog = _outputs(tiny, sentences, padded=True, width=16)
    unp, u_prog = _outputs(tiny, sentences, padded=False, width=16)
    assert p_prog.tensor(p_prog.meta["output"]).dtype == "int16"
    for a, b in zip(pad, unp, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    # both count only the real tokens' MACs as useful; the padded program computes more
    assert p_prog.meta["macs"] == u_prog.meta["macs"]
    rp, ru = timing.estimate(p_prog), timing.estimate(u_prog)
    assert rp.useful_macs == ru.useful_macs < rp.macs
    assert ru.cycles < rp.cycles
    assert u_prog.meta["rows"] == sum(len(s) for s in sentences) < p_prog.meta["rows"]


def test_same_sentence_same_bytes_in_any_batch(tiny, sentences):
    alone = [_outputs(tiny, [s], padded=False)[0][0] for s in sentences]
    batches = [[0, 1, 2, 3, 4], [4, 2, 0], [3, 1]]
    for padded in (False, True):
        for order in batches:
            got, _ = _outputs(tiny, [sentences[i] for i in order], padded=padded, width=15)
            for i, rows in zip(order, got, strict=True):
                assert np.array_equal(rows, alone[i]), (padded, order, i)


def test_unpadded_program_checks_its_inputs(tiny, sentences):
    ids, mask = _batch(sentences[:2], 6)
    cm = _compile(tiny, seq_len=6, lengths=[2, 4], padded=False)
    with pytest.raises(ValueError, match=r"input lengths \[1, 4\] differ from the lengths"):
        prepare_inputs(cm.program, ids, mask)
    ids[0, 0] = 1
    mask[0] = [0, 1, 1, 0, 0, 0]
    with pytest.raises(ValueError, match="ones then zeros"):
        prepare_inputs(cm.program, ids, np.array([[0, 1, 1, 0, 0, 0], [1, 1, 1, 1, 0, 0]]))


def test_lengths_must_fit(tiny):
    with pytest.raises(ValueError, match="a length of 9 exceeds seq_len=8"):
        _compile(tiny, seq_len=8, lengths=[3, 9])


def test_cache_skips_calibration(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv(cache.ENV, str(tmp_path / "c"))
    first = _compile(tiny, seq_len=7, lengths=[3, 7], padded=False)
    second = _compile(tiny, seq_len=7, lengths=[3, 7], padded=False)
    assert "calibrate" in first.wall_s and "calibrate" not in second.wall_s
    assert second.program.dram_init == first.program.dram_init
    assert len(list((tmp_path / "c" / "quantized").glob("*.pkl"))) == 1
    # other options are another entry
    third = _compile(tiny, seq_len=7, quant={"use_gptq": False})
    assert "calibrate" in third.wall_s
    assert len(list((tmp_path / "c" / "quantized").glob("*.pkl"))) == 2
    monkeypatch.setenv(cache.ENV, "off")
    assert cache.cache_dir() is None
    assert "calibrate" in _compile(tiny, seq_len=7).wall_s


def test_length_mix_workload(tiny):
    from encore.workloads import format_length_mix, length_mix

    r = length_mix("tiny", CFG, lengths=[3, 30, 7, 12], loaded=tiny)
    assert r["padded_slots"] == 4 * 32 and r["real_tokens"] == 52
    assert r["padded"]["useful_macs"] == r["unpadded"]["useful_macs"] < r["padded"]["macs"]
    assert r["unpadded"]["cycles"] < r["padded"]["cycles"]
    assert "unpadded / padded cycles" in format_length_mix(r)


@pytest.mark.slow
def test_builtin_mix_unpadded_cycles_at_most_035_of_padded():
    from encore.workloads import length_mix

    r = length_mix("minilm-l6", MachineConfig(dim=16))
    assert r["real_tokens"] == 310 and r["padded_slots"] == 16 * 112
    assert r["cycle_ratio"] <= 0.35, r["cycle_ratio"]


@pytest.mark.parametrize("flag, mode", [([], "unpadded"), (["--padded"], "padded")])
def test_run_reports_tokens(tmp_path, capsys, flag, mode):
    from encore.cli import main

    folder = save_bert(tmp_path / "m", hidden=24, heads=2, ffn=40, layers=1)
    js = tmp_path / "r.json"
    assert main(["run", "--model", str(folder), "--seq", "9", "--batch", "2", "--dim", "8",
                 "--json", str(js), *flag]) == 0
    assert f"Tokens ({mode}): 18 real of 18 computed slots" in capsys.readouterr().out
    r = json.loads(js.read_text())
    assert r["tokens"]["mode"] == mode and r["tokens"]["real"] == 18
