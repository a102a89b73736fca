"""The compiler as a straight pipeline of named passes: import -> verify -> calibrate ->
quantize -> lower (tile, allocate, schedule, emit) -> program."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from isa import MachineConfig, Program

from .cache import cache_dir, model_key
from .cache import load as cache_load
from .cache import store as cache_store
from .calibration import calibration_inputs
from .graph import EncoderGraph, import_model
from .heads import classifier_program
from .lower_model import lower_model
from .models import LoadedModel, load_model
from .quantize import DEFAULT_ACT_BITS, QuantizedModel, _act_bits, calibrate_batches, quantize

#: Environment variable that overrides the default activation width (8 or 16) of every compile
#: that does not choose one: how `encore bench --act-bits` reaches its worker processes.
ACT_BITS_ENV = "ENCORE_ACT_BITS"


def default_act_bits() -> int:
    """``$ENCORE_ACT_BITS`` if set (8 or 16), else compiler.quantize.DEFAULT_ACT_BITS (16)."""
    env = os.environ.get(ACT_BITS_ENV)
    if env is None or not env.strip():
        return DEFAULT_ACT_BITS
    if env.strip() not in ("8", "16"):
        raise ValueError(f"{ACT_BITS_ENV}={env!r}: expected 8 or 16")
    return int(env)


@dataclass
class CompiledModel:
    program: Program
    graph: EncoderGraph
    loaded: LoadedModel
    quantized: QuantizedModel
    wall_s: dict[str, float] = field(default_factory=dict)
    head_program: Program | None = None  # the classifier of a task head (compiler/heads.py)


def _check_int(name: str, value: Any, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {value!r}")
    if value < lo or (hi is not None and value > hi):
        rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ValueError(f"{name}={value} is out of range: expected {rng}")
    return value


#: Models up to this hidden x FFN x layers (all-MiniLM-L6-v2's) calibrate on 32 random
#: sequences when they have no tokenizer (8 otherwise: the float64 forward pass dominates).
SMALL_MODEL = 384 * 1536 * 6


def quantize_graph(graph: EncoderGraph, loaded: LoadedModel, config: MachineConfig,
                   quant: dict | None = None, *, cache: bool = True,
                   log: Callable[[str], None] | None = None,
                   wall: dict[str, float] | None = None) -> QuantizedModel:
    """Calibrate + quantize (GPTQ) ``graph`` for ``config.dim``, through the on-disk cache.

    The result depends only on the model, the options and DIM (never on a batch or its lengths):
    the calibration set is fixed per model (compiler/calibration.py)."""
    say = log or (lambda _msg: None)
    wall = {} if wall is None else wall
    # act_bits always in the options (so in the cache key), explicitly
    quant = {**(quant or {}), "act_bits": _act_bits((quant or {}).get("act_bits",
                                                                      default_act_bits()))}
    t = time.perf_counter()
    small = graph.hidden * graph.ffn * len(graph.layers) <= SMALL_MODEL
    batches = calibration_inputs(loaded.tokenizer, graph.word_emb.shape[0], graph.max_seq,
                                 graph.pad_id, n=32 if small else 8)
    key = None
    if cache and cache_dir() is not None:
        digest = hashlib.sha256()
        for ids, mask in batches:
            digest.update(str(ids.shape).encode() + ids.tobytes() + mask.tobytes())
        digest = digest.hexdigest()
        key = model_key(graph, config.dim, dict(sorted((quant or {}).items())), digest)
        q = cache_load(key, graph)
        wall["cache_lookup"] = time.perf_counter() - t
        if q is not None:
            say(f"quantized model from the cache ({cache_dir()}, key {key[:12]})")
            return q
    t = time.perf_counter()
    say("calibrating and quantizing (GPTQ); the result is cached for the next run")
    calib = calibrate_batches(graph, batches)
    wall["calibrate"] = time.perf_counter() - t
    t = time.perf_counter()
    q = quantize(graph, calib, config.dim, **(quant or {}))
    wall["quantize"] = time.perf_counter() - t
    if key is not None:
        cache_store(key, q)
    return q


def compile_model(source: str | Any, config: MachineConfig | None = None, *, seq_len: int = 128,
                  batch: int = 1, lengths: list[int] | None = None, padded: bool = True,
                  seed: int = 0, loaded: LoadedModel | None = None,
                  log: Callable[[str], None] | None = None,
                  quant: dict | None = None, cache: bool = True,
                  act_bits: int | None = None, fuse_ffn: bool = True,
                  keep_intermediates: bool = True, prefetch: bool = True) -> CompiledModel:
    """Compile a named model, a local Hugging Face folder or a transformers model object.

    The program runs ``batch`` sequences of real ``lengths`` (default: all ``seq_len``); padded,
    each takes ``seq_len`` rows (shorter inputs masked), unpadded (``padded=False``) the real
    tokens are packed (docs/architecture.md "Serving"). ``seed`` fixes the random weights of
    named models without real weights. ``quant`` overrides quantization options (``alpha``,
    ``ffn_alpha``, ``use_gptq``, ``act_bits``; see compiler/quantize.py). ``act_bits``: 16
    (default) runs the LayerNorm and GELU outputs as 16-bit activations, 8 every activation
    int8 (docs/architecture.md "Short inputs"). ``cache``: reuse the quantized model from the
    on-disk cache (compiler/cache.py). ``fuse_ffn``, ``keep_intermediates``: the planner's
    options (compiler/lower_model.py: fuse feed-forward blocks where it pays; store their
    intermediate ``L*.ffn`` anyway, off the critical path). ``prefetch``: issue each kernel's
    first weight LOADs ahead of the previous kernel's epilogue (compiler/prefetch.py).
    """
    config = config or MachineConfig()
    if act_bits is not None:
        quant = {**(quant or {}), "act_bits": _act_bits(act_bits)}
    if not isinstance(config, MachineConfig):
        raise TypeError(f"config must be a MachineConfig, not {type(config).__name__}")
    if lengths is not None:
        lengths = [_check_int("length", int(n) if isinstance(n, np.integer) else n, 1, 4095)
                   for n in lengths]
        if not lengths:
            raise ValueError("lengths is empty: expected one length per sequence")
        batch = len(lengths)
        if max(lengths) > seq_len:
            raise ValueError(f"a length of {max(lengths)} exceeds seq_len={seq_len}")
    _check_int("batch", batch, 1, 4096)
    _check_int("seq_len", seq_len, 1, 4095)
    wall: dict[str, float] = {}
    say = log or (lambda _msg: None)

    t = time.perf_counter()
    loaded = loaded or load_model(source, seed=seed)
    graph = import_model(loaded.model)
    graph.verify()
    wall["import"] = time.perf_counter() - t
    if seq_len > graph.max_seq:
        raise ValueError(f"sequence length {seq_len} is longer than the model's "
                         f"{graph.max_seq} positions: expected --seq <= {graph.max_seq}")
    if seq_len > config.max_seq:
        raise ValueError(f"sequence length {seq_len} exceeds the attention engine's "
                         f"max_seq={config.max_seq}: expected --seq <= {config.max_seq}")
    say(f"imported {loaded.name}: {len(graph.layers)} layers, hidden {graph.hidden}, "
        f"{graph.heads} heads, FFN {graph.ffn}")

    q = quantize_graph(graph, loaded, config, quant, cache=cache, log=log, wall=wall)

    t = time.perf_counter()
    program = lower_model(q, config, batch=batch, seq=seq_len, lengths=lengths, padded=padded,
                          meta={"model": loaded.name, "real_weights": loaded.real_weights,
                                "seed": seed},
                          fuse_ffn=fuse_ffn, keep_intermediates=keep_intermediates,
                          prefetch=prefetch)
    head = None
    if q.head is not None:
        head = classifier_program(q.head, config, batch, {"model": loaded.name,
                                                          "head": program.meta["head"]})
    wall["lower"] = time.perf_counter() - t
    say(f"lowered to {len(program.instructions)} instructions, "
        f"{program.dram_size / 2**20:.1f} MiB of DRAM")
    for choice in sorted(set(program.meta["planner"].values())):
        layers = [k for k, v in program.meta["planner"].items() if v == choice]
        say(f"feed-forward blocks {', '.join(layers)}: {choice}")
    return CompiledModel(program, graph, loaded, q, wall, head)
