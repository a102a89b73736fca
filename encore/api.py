"""Python API: compile, simulate and compare a model in one call (what `encore run` does)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from compiler import compile_model
from isa import MachineConfig, Program

from .accuracy import accuracy_section, reference_run
from .classify import compare_logits
from .host import run_functional, run_head, tokenize
from .inputs import DEFAULT_TEXTS, random_ids


@dataclass
class RunResult:
    report: dict
    hidden_states: np.ndarray  # float32 [batch, seq, hidden], simulator output dequantized
    input_ids: np.ndarray
    attention_mask: np.ndarray
    program: Program
    extra: dict = field(default_factory=dict)


def _progress_bar(total: int, desc: str, enabled: bool):
    if not enabled:
        return None, lambda: None
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="instr", leave=False, mininterval=0.5)
    return bar.update, bar.close


def timing_section(program: Program, clock_mhz: float, max_layers: int = 12,
                   clock_source: str | None = None) -> dict:
    """The timing model's report as a dict, with its text rendering under ``text`` and where
    the clock came from under ``clock_source`` (encore/clock.py)."""
    from encore.clock import ASSUMED, DEFAULT_CLOCK_MHZ
    from sim import timing

    if clock_source is None:
        clock_source = ASSUMED if clock_mhz == DEFAULT_CLOCK_MHZ else "given by the caller"
    rep = timing.estimate(program, clock_mhz=clock_mhz)
    text = rep.format(max_layers=max_layers) + f"\n  clock {clock_mhz:g} MHz: {clock_source}"
    return {**rep.to_dict(), "clock_source": clock_source, "text": text}


def token_counts(program: Program) -> dict:
    """Real tokens, the token slots the program computes, and the padding slots avoided."""
    meta = program.meta
    real = int(meta.get("tokens", meta["batch"] * meta["seq"]))
    slots = int(meta.get("rows", meta["batch"] * meta["seq"]))
    padded_slots = meta["batch"] * meta["seq"]
    return {"mode": "padded" if meta.get("padded", True) else "unpadded", "real": real,
            "slots": slots, "padding_slots": slots - real,
            "padded_slots_avoided": padded_slots - slots if not meta.get("padded", True) else 0}


def run_model(model: str, *, texts: list[str] | None = None, seq: int | None = None,
              batch: int | None = None, config: MachineConfig | None = None, seed: int = 0,
              clock_mhz: float = 200.0, progress: bool = False, log=None,
              padded: bool = False, cache: bool = True,
              act_bits: int | None = None, clock_source: str | None = None) -> RunResult:
    """Compile ``model``, simulate it on the functional simulator, compare with PyTorch FP32.

    Unpadded by default: the program is compiled for the inputs' real lengths (packed tokens,
    attention per sequence); ``padded=True`` runs every input at ``seq`` slots with a mask.
    ``cache``: reuse the quantized model from the on-disk cache (compiler/cache.py).
    ``act_bits``: 16 (default) 16-bit LayerNorm and GELU outputs, 8 every activation int8."""
    from compiler.models import load_model

    config = config or MachineConfig()
    wall: dict[str, float] = {}
    t = time.perf_counter()
    loaded = load_model(model, seed=seed)
    wall["load_model"] = time.perf_counter() - t
    tok = loaded.tokenizer
    if texts is not None and tok is None:
        raise ValueError(f"model {model!r} has no tokenizer, so --text cannot be used: omit it "
                         "to run seeded random token ids of length --seq")
    if tok is not None:
        texts = list(texts) if texts is not None else list(DEFAULT_TEXTS)
        if seq is None:
            longest = max(len(tok(x)["input_ids"]) for x in texts if isinstance(x, str))
            seq = min(128, -(-longest // 8) * 8) if longest <= 128 else longest
        ids, mask = tokenize(tok, texts, seq)
    else:
        seq = 128 if seq is None else seq
        batch = 1 if batch is None else batch
        if not 1 <= batch <= 256:
            raise ValueError(f"--batch {batch} is out of range: expected 1..256")
        ids, mask = None, None
    if ids is None:
        ids, mask = random_ids(loaded.model.config.vocab_size, batch, seq,
                               loaded.model.config.pad_token_id or 0, seed)
    lengths = [int(n) for n in mask.sum(axis=1)]
    t = time.perf_counter()
    cm = compile_model(model, config, seq_len=seq, lengths=lengths, padded=padded, seed=seed,
                       loaded=loaded, log=log, cache=cache, act_bits=act_bits)
    wall["compile"] = time.perf_counter() - t
    prog = cm.program

    t = time.perf_counter()
    update, close = _progress_bar(len(prog.instructions), "functional sim", progress)
    try:
        sim, stats, layers = run_functional(prog, ids, mask, progress=update)
    finally:
        close()
    logits = run_head(prog, sim.dram, cm.head_program) if cm.head_program else None
    wall["simulate"] = time.perf_counter() - t

    t = time.perf_counter()
    refs, out = reference_run(loaded.model, ids, mask)
    wall["pytorch"] = time.perf_counter() - t

    t = time.perf_counter()
    timing = timing_section(prog, clock_mhz, clock_source=clock_source)
    wall["timing"] = time.perf_counter() - t

    report = {
        "model": cm.loaded.name,
        "real_weights": cm.loaded.real_weights,
        "seq_len": seq,
        "batch": int(ids.shape[0]),
        "dim": config.dim,
        "act_bits": prog.meta.get("act_bits", 8),
        "machine": config.to_dict(),
        "inputs": [{"text": texts[i] if texts else None, "tokens": int(mask[i].sum())}
                   for i in range(ids.shape[0])],
        "tokens": token_counts(prog),
        "program": {
            "instructions": len(prog.instructions),
            "by_opcode": prog.opcode_histogram(),
            "dram_image_bytes": len(prog.dram_init),
            "dram_bytes": prog.dram_size,
            "macs": prog.meta.get("macs"),
        },
        "accuracy": accuracy_section(layers, refs, mask),
        "simulator": {"instructions": stats.instructions, "array_macs": stats.macs,
                      "dram_read": stats.dram_read, "dram_written": stats.dram_written},
        "wall_s": {**{f"compile.{k}": v for k, v in cm.wall_s.items()}, **wall},
    }
    report["timing"] = timing
    extra = {}
    if logits is not None:
        report["classification"] = compare_logits(logits, out.logits.double().numpy(),
                                                  prog.meta["head"])
        report["logits"] = logits.tolist()
        report["head_timing"] = {k: v for k, v in timing_section(
            cm.head_program, clock_mhz).items() if k in ("cycles", "latency_ms", "macs")}
        extra["logits"] = logits
    return RunResult(report, layers[-1], ids, mask, prog, extra)
