"""Sequence-classification heads against PyTorch: labels agree on >= 98 % of 64 inputs, logits
cosine >= 0.99 (seeded heads; small configs of the three model types, and the real
all-MiniLM-L6-v2 encoder under --runslow); unsupported heads are rejected by name."""

import json

import numpy as np
import pytest
import torch

from compiler import compile_model, load_model
from encore.cli import main
from encore.host import run_functional, run_head
from isa import MachineConfig

LABELS = ("negative", "neutral", "positive")
try:  # the exit status of a user's bad input (encore.errors, where it exists)
    from encore.errors import BAD_INPUT as _BAD_INPUT
except ImportError:
    _BAD_INPUT = 2


def _seed_head(model, seed: int) -> None:
    """Head weights with a realistic spread (a trained head's logits differ by units, a freshly
    initialised one's by hundredths)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith(("classifier", "pre_classifier", "bert.pooler")):
                fan_in = p.shape[-1] if p.ndim == 2 else 1
                p.copy_(torch.randn(p.shape, generator=gen) * (1.5 / fan_in**0.5 if p.ndim == 2
                                                               else 0.1))


def save_classifier(path, kind: str, seed: int = 0, hidden=48, layers=2):
    import transformers as tf

    torch.manual_seed(seed)
    common = dict(vocab_size=1000, num_labels=3, id2label=dict(enumerate(LABELS)),
                  label2id={v: i for i, v in enumerate(LABELS)})
    if kind == "distilbert":
        cfg = tf.DistilBertConfig(dim=hidden, n_heads=2, hidden_dim=2 * hidden, n_layers=layers,
                                  max_position_embeddings=64, **common)
        model = tf.DistilBertForSequenceClassification(cfg)
    elif kind == "roberta":
        cfg = tf.RobertaConfig(hidden_size=hidden, num_attention_heads=2,
                               intermediate_size=2 * hidden, num_hidden_layers=layers,
                               max_position_embeddings=66, pad_token_id=1, type_vocab_size=1,
                               **common)
        model = tf.RobertaForSequenceClassification(cfg)
    else:
        cfg = tf.BertConfig(hidden_size=hidden, num_attention_heads=2,
                            intermediate_size=2 * hidden, num_hidden_layers=layers,
                            max_position_embeddings=64, **common)
        model = tf.BertForSequenceClassification(cfg)
    _seed_head(model, seed + 1)
    model.save_pretrained(str(path))
    return path


def _inputs(n: int, vocab: int, pad: int, seed: int = 3):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 25, size=n)
    ids = np.full((n, 24), pad, dtype=np.int64)
    mask = np.zeros_like(ids)
    for i, k in enumerate(lengths):
        ids[i, :k] = rng.integers(5, vocab, size=k)
        mask[i, :k] = 1
    return ids, mask


def _check(loaded, ids, mask, cfg):
    cm = compile_model(None, cfg, loaded=loaded, seq_len=ids.shape[1],
                       lengths=mask.sum(1).tolist(), padded=False)
    sim, _, _ = run_functional(cm.program, ids, mask)
    logits = run_head(cm.program, sim.dram, cm.head_program)
    with torch.no_grad():
        ref = loaded.model(input_ids=torch.from_numpy(ids),
                           attention_mask=torch.from_numpy(mask)).logits.double().numpy()
    agree = (logits.argmax(1) == ref.argmax(1)).mean()
    cos = (logits * ref).sum() / np.linalg.norm(logits) / np.linalg.norm(ref)
    return agree, cos, ref


@pytest.mark.parametrize("kind", ["bert", "distilbert", "roberta"])
def test_seeded_heads_match_pytorch(tmp_path, kind):
    loaded = load_model(str(save_classifier(tmp_path / kind, kind)))
    ids, mask = _inputs(64, 1000, loaded.model.config.pad_token_id or 0)
    agree, cos, ref = _check(loaded, ids, mask, MachineConfig(dim=16))
    assert len(set(ref.argmax(1))) >= 2  # the head separates the inputs
    assert agree >= 0.98 and cos >= 0.99, (agree, cos)


def test_run_prints_labels_and_writes_logits(tmp_path, capsys):
    folder = save_classifier(tmp_path / "cls", "bert")
    js, npz = tmp_path / "r.json", tmp_path / "o.npz"
    assert main(["run", "--model", str(folder), "--seq", "9", "--batch", "3", "--dim", "8",
                 "--json", str(js), "--save-outputs", str(npz)]) == 0
    out = capsys.readouterr().out
    assert "Classification (BertForSequenceClassification" in out
    assert any(label in out for label in LABELS)
    r = json.loads(js.read_text())
    assert np.array(r["logits"]).shape == (3, 3)
    assert {"agreement", "logits_cosine", "per_input"} <= set(r["classification"])
    assert r["classification"]["per_input"][0]["label"] in LABELS
    assert np.load(npz)["logits"].shape == (3, 3)


@pytest.mark.parametrize("arch", ["BertForMaskedLM", "BertForTokenClassification"])
def test_unsupported_head_is_named(tmp_path, capsys, arch):
    folder = save_classifier(tmp_path / "m", "bert")
    cfg = json.loads((folder / "config.json").read_text())
    cfg["architectures"] = [arch]
    (folder / "config.json").write_text(json.dumps(cfg))
    assert main(["run", "--model", str(folder), "--seq", "8"]) == _BAD_INPUT
    err = capsys.readouterr().err
    assert f"unsupported architecture {arch!r}" in err
    assert "BertForSequenceClassification" in err and "Traceback" not in err


@pytest.mark.slow
def test_minilm_encoder_with_seeded_head(tmp_path):
    """all-MiniLM-L6-v2's real encoder + a seeded 3-label head; 64 real sentences."""
    import transformers as tf

    from encore.host import tokenize
    from encore.inputs import DEFAULT_TEXTS
    from tests.heldout_texts import HELDOUT_TEXTS

    enc = load_model("minilm-l6")
    model = tf.BertForSequenceClassification(tf.BertConfig(
        **{**enc.model.config.to_dict(), "num_labels": 3, "id2label": dict(enumerate(LABELS)),
           "label2id": {v: i for i, v in enumerate(LABELS)},
           "architectures": ["BertForSequenceClassification"]}))
    model.bert.load_state_dict(enc.model.state_dict(), strict=False)
    _seed_head(model, 5)
    model.save_pretrained(str(tmp_path / "cls"))
    enc.tokenizer.save_pretrained(str(tmp_path / "cls"))
    loaded = load_model(str(tmp_path / "cls"))
    texts = (list(DEFAULT_TEXTS) + list(HELDOUT_TEXTS))[:64]
    assert len(texts) == 64
    seq = max(len(loaded.tokenizer(t)["input_ids"]) for t in texts)
    ids, mask = tokenize(loaded.tokenizer, texts, seq)
    agree, cos, ref = _check(loaded, ids, mask, MachineConfig(dim=16))
    assert len(set(ref.argmax(1))) >= 2
    assert agree >= 0.98 and cos >= 0.99, (agree, cos)
