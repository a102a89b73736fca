"""On-disk cache of quantized models: calibration + GPTQ once per model and options.

The key is a SHA-256 of the model's float weights and shape fields, the quantization options,
the array DIM and the source of every module that decides the integer constants (so a changed
rounding rule never reads a stale entry). The folder is ``$ENCORE_CACHE_DIR`` if set, else
``~/.cache/encore``; entries live in ``<folder>/quantized/<key>.pkl``. ``ENCORE_CACHE_DIR=off``
disables the cache. The cached object is the QuantizedModel without its float graph and its
host embedding tables (both recomputed from the model on load).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from dataclasses import fields
from pathlib import Path

import numpy as np

from .graph import EncoderGraph
from .quantize import QuantizedModel, embedding_tables

ENV = "ENCORE_CACHE_DIR"
#: Modules whose source decides the quantized constants (part of every key).
_SOURCES = ("compiler/calibration.py", "compiler/quantize.py", "compiler/gptq.py",
            "compiler/graph.py", "compiler/heads.py", "isa/numerics.py")


def cache_dir() -> Path | None:
    """The cache folder, or None when the cache is off."""
    env = os.environ.get(ENV)
    if env is not None and env.strip().lower() in ("off", "0", "none", ""):
        return None
    return Path(env).expanduser() if env else Path.home() / ".cache" / "encore"


def _code_digest() -> bytes:
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for rel in _SOURCES:
        p = root / rel
        h.update(rel.encode())
        h.update(p.read_bytes() if p.is_file() else b"-")
    return h.digest()


def model_key(graph: EncoderGraph, dim: int, options: dict, calib_digest: str) -> str:
    """SHA-256 of everything the quantized model depends on (weights, options, code)."""
    h = hashlib.sha256(_code_digest())
    h.update(json.dumps({"dim": dim, "options": options, "calib": calib_digest},
                        sort_keys=True, default=str).encode())
    for f in fields(graph):
        v = getattr(graph, f.name)
        _update(h, f.name, v)
    return h.hexdigest()


def _update(h, name: str, v) -> None:
    h.update(name.encode())
    if isinstance(v, np.ndarray):
        h.update(str((v.dtype, v.shape)).encode())
        h.update(np.ascontiguousarray(v).tobytes())
    elif isinstance(v, list | tuple):
        for i, x in enumerate(v):
            _update(h, f"{name}[{i}]", x)
    elif hasattr(v, "__dataclass_fields__"):
        for f in fields(v):
            _update(h, f"{name}.{f.name}", getattr(v, f.name))
    else:
        h.update(repr(v).encode())


def load(key: str, graph: EncoderGraph) -> QuantizedModel | None:
    folder = cache_dir()
    path = folder / "quantized" / f"{key}.pkl" if folder else None
    if path is None or not path.is_file():
        return None
    try:
        with path.open("rb") as fh:
            q = pickle.load(fh)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, TypeError):
        return None  # a damaged or foreign entry is recomputed (and overwritten)
    if not isinstance(q, QuantizedModel):
        return None
    _convert(q, grow=True)
    q.graph = graph
    q.tables = embedding_tables(graph, q.s_emb)
    return q


def _convert(obj, grow: bool) -> None:
    """Integer arrays to their smallest dtype for storage (``grow``: back to int64)."""
    for f in fields(obj):
        v = getattr(obj, f.name)
        if isinstance(v, np.ndarray) and v.dtype.kind == "i":
            setattr(obj, f.name, v.astype(np.int64) if grow else _smallest(v))
        elif isinstance(v, list):
            for x in v:
                if hasattr(x, "__dataclass_fields__"):
                    _convert(x, grow)
        elif hasattr(v, "__dataclass_fields__") and not isinstance(v, EncoderGraph):
            _convert(v, grow)


def _smallest(v: np.ndarray) -> np.ndarray:
    for dt in (np.int8, np.int16, np.int32):
        info = np.iinfo(dt)
        if v.size == 0 or (v.min() >= info.min and v.max() <= info.max):
            return v.astype(dt)
    return v


def store(key: str, q: QuantizedModel) -> Path | None:
    """Write the entry atomically; a read-only or full disk only costs the cache."""
    folder = cache_dir()
    if folder is None:
        return None
    path = folder / "quantized" / f"{key}.pkl"
    graph, tables = q.graph, q.tables
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        q.graph, q.tables = None, {}
        _convert(q, grow=False)
        with tmp.open("wb") as fh:
            pickle.dump(q, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        return None
    finally:
        _convert(q, grow=True)
        q.graph, q.tables = graph, tables
    return path
