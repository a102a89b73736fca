"""Serving workloads for the timing model: a realistic mix of request lengths, padded vs
unpadded (what `encore bench --length-mix` reports, docs/architecture.md "Serving").

The mix is the lengths of the 16 built-in texts of `encore run` (encore/inputs.py) under the
all-MiniLM-L6-v2 tokenizer: 3 to 111 tokens, 310 in all. The padded program runs 16 x 112
slots (the padded length is the longest rounded up to 8, as `encore run` pads); the unpadded
one packs the 310 real tokens and runs attention per sequence. GPTQ is skipped (it changes
int8 codes, not the instruction stream, hence not the cycles).
"""

from __future__ import annotations

import time

from isa import MachineConfig


def builtin_lengths() -> list[int]:
    """Token counts of the built-in texts (with [CLS] and [SEP])."""
    from compiler.models import load_model

    from .inputs import DEFAULT_TEXTS

    tok = load_model("minilm-l6").tokenizer
    return [len(tok(t)["input_ids"]) for t in DEFAULT_TEXTS]


def padded_length(lengths: list[int]) -> int:
    return -(-max(lengths) // 8) * 8


def length_mix(model: str, config: MachineConfig, lengths: list[int] | None = None,
               clock_mhz: float = 200.0, loaded=None, act_bits: int | None = None) -> dict:
    """Cycles of the padded and the unpadded program for one batch of ``lengths``, with the
    compile (lowering) time of each and the useful MACs (real tokens only, equal in both)."""
    from compiler import compile_model, load_model
    from sim import timing

    lengths = builtin_lengths() if lengths is None else list(lengths)
    seq = padded_length(lengths)
    loaded = loaded or load_model(model)
    out = {"model": model, "dim": config.dim, "lengths": lengths, "real_tokens": sum(lengths),
           "padded_slots": len(lengths) * seq, "seq": seq}
    for mode in ("padded", "unpadded"):
        t = time.perf_counter()
        cm = compile_model(model, config, seq_len=seq, lengths=lengths, padded=mode == "padded",
                           loaded=loaded, quant={"use_gptq": False}, act_bits=act_bits)
        rep = timing.estimate(cm.program, clock_mhz=clock_mhz)
        out[mode] = {"cycles": rep.cycles, "latency_ms": rep.latency_ms, "macs": rep.macs,
                     "useful_macs": rep.model_macs, "utilization": rep.utilization,
                     "instructions": len(cm.program.instructions),
                     "lower_s": cm.wall_s["lower"], "compile_s": time.perf_counter() - t}
    out["cycle_ratio"] = out["unpadded"]["cycles"] / out["padded"]["cycles"]
    return out


def format_length_mix(r: dict) -> str:
    p, u = r["padded"], r["unpadded"]
    return "\n".join([
        f"Length mix {r['model']} DIM {r['dim']}: {len(r['lengths'])} requests, "
        f"{r['real_tokens']} real tokens ({r['padded_slots']} padded slots at seq {r['seq']})",
        f"  {'mode':<9} {'cycles':>13} {'ms':>9} {'useful MACs':>15} {'util':>6} {'lower s':>8}",
        *(f"  {name:<9} {x['cycles']:>13,} {x['latency_ms']:>9.3f} {x['useful_macs']:>15,} "
          f"{x['utilization']:>6.3f} {x['lower_s']:>8.2f}" for name, x in (("padded", p),
                                                                             ("unpadded", u))),
        f"  unpadded / padded cycles: {r['cycle_ratio']:.3f}",
    ])
