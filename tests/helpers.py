"""Small model folders for tests (created with transformers, saved locally, seeded)."""

from __future__ import annotations

import json
from pathlib import Path


def save_bert(path: Path, *, hidden=200, heads=5, ffn=700, layers=2, max_pos=128, seed=0,
              kind="bert") -> Path:
    import torch
    import transformers as tf

    torch.manual_seed(seed)
    if kind == "distilbert":
        cfg = tf.DistilBertConfig(dim=hidden, n_heads=heads, hidden_dim=ffn, n_layers=layers,
                                  vocab_size=1000, max_position_embeddings=max_pos)
        model = tf.DistilBertModel(cfg)
    elif kind == "roberta":
        cfg = tf.RobertaConfig(hidden_size=hidden, num_attention_heads=heads,
                               intermediate_size=ffn, num_hidden_layers=layers, vocab_size=1000,
                               max_position_embeddings=max_pos + 2, pad_token_id=1,
                               type_vocab_size=1)
        model = tf.RobertaModel(cfg, add_pooling_layer=False)
    else:
        cfg = tf.BertConfig(hidden_size=hidden, num_attention_heads=heads, intermediate_size=ffn,
                            num_hidden_layers=layers, vocab_size=1000,
                            max_position_embeddings=max_pos)
        model = tf.BertModel(cfg, add_pooling_layer=False)
    model.save_pretrained(str(path))
    return path


def save_gpt2_config(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_embd": 64}))
    return path
