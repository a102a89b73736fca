"""The compiler as a straight pipeline of named passes: import -> verify -> calibrate ->
quantize -> lower (tile, allocate, schedule, emit) -> program."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from isa import MachineConfig, Program

from .calibration import calibration_inputs
from .graph import EncoderGraph, import_model
from .lower_model import lower_model
from .models import LoadedModel, load_model
from .quantize import QuantizedModel, calibrate, quantize


@dataclass
class CompiledModel:
    program: Program
    graph: EncoderGraph
    loaded: LoadedModel
    quantized: QuantizedModel
    wall_s: dict[str, float] = field(default_factory=dict)


def _check_int(name: str, value: Any, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {value!r}")
    if value < lo or (hi is not None and value > hi):
        rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ValueError(f"{name}={value} is out of range: expected {rng}")
    return value


def compile_model(source: str | Any, config: MachineConfig | None = None, *, seq_len: int = 128,
                  batch: int = 1, seed: int = 0, loaded: LoadedModel | None = None,
                  log: Callable[[str], None] | None = None,
                  quant: dict | None = None) -> CompiledModel:
    """Compile a named model, a local Hugging Face folder or a transformers model object.

    The program runs ``batch`` sequences of exactly ``seq_len`` tokens (shorter inputs are padded
    and masked). ``seed`` fixes the random weights of named models without real weights.
    ``quant`` overrides quantization options (``alpha``, ``ffn_alpha``, ``use_gptq``; see
    compiler/quantize.py).
    """
    config = config or MachineConfig()
    if not isinstance(config, MachineConfig):
        raise TypeError(f"config must be a MachineConfig, not {type(config).__name__}")
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

    t = time.perf_counter()
    ids, mask = calibration_inputs(loaded.tokenizer, graph.word_emb.shape[0], seq_len,
                                   graph.pad_id)
    calib = calibrate(graph, ids, mask)
    wall["calibrate"] = time.perf_counter() - t

    t = time.perf_counter()
    q = quantize(graph, calib, config.dim, **(quant or {}))
    wall["quantize"] = time.perf_counter() - t

    t = time.perf_counter()
    program = lower_model(q, config, batch=batch, seq=seq_len,
                          meta={"model": loaded.name, "real_weights": loaded.real_weights,
                                "seed": seed})
    wall["lower"] = time.perf_counter() - t
    say(f"lowered to {len(program.instructions)} instructions, "
        f"{program.dram_size / 2**20:.1f} MiB of DRAM")
    return CompiledModel(program, graph, loaded, q, wall)
