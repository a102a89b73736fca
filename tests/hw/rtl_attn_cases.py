"""Attention programs for the RTL tests, lowered by the compiler (compiler.lower_attention: one
ATTN per (sequence, head) with its LOADs of Q, K, V, parameters and key mask and the STORE of the
output): random int8 Q/K/V, score and output scales in the operations' interesting ranges,
sequences of different lengths in one batch (padding masks). The reference is the functional
simulator (DRAM byte-equal); ``y`` is the context tensor."""

from __future__ import annotations

import numpy as np

from compiler.dram import DramBuilder
from compiler.emitter import Emitter
from compiler.lower_attention import lower_attention
from isa import MachineConfig, Program, numerics

from .rtl_cases import make_job

#: (batch, seq, heads, head_blocks): seq 1, below DIM, not a multiple of DIM; 1 and 2 blocks.
ATTN_CASES = [(1, 1, 1, 1), (2, 3, 2, 1), (2, 6, 1, 2), (1, 9, 2, 2)]
#: Slow run: longer sequences.
ATTN_SLOW_CASES = [(2, 21, 1, 2), (1, 40, 2, 1)]


def attn_program(cfg: MachineConfig, batch: int, seq: int, heads: int, hb: int, seed: int = 0):
    """(program, inputs): sequence ``b`` of the batch has ``seq - b`` valid keys (at least 1)."""
    rng = np.random.default_rng(seed)
    d = cfg.dim
    kb = -(-seq // d)
    hp = heads * hb * d
    dram = DramBuilder(cfg)
    rows = []
    for _ in range(heads):
        p = np.zeros((1 + 2 * hb, d), dtype=np.int64)
        # scores ~ sqrt(hb*d) * 74^2 -> fixed point of a few units (2^12 each)
        p[0, :2] = numerics.quantize_multiplier(4.0 / (np.sqrt(hb * d) * 74 * 74) * 4096)
        mo, so = numerics.quantize_multiplier(rng.uniform(0.5, 2.0, hb * d) / 256.0)
        mo[rng.random(hb * d) < 0.3] *= -1
        p[1::2], p[2::2] = mo.reshape(hb, d), so.reshape(hb, d)
        rows.append(p)
    params = dram.add_const("attn.p", np.concatenate(rows), "int32")
    qkv = dram.add_buffer("qkv", batch * seq, 3 * hp, "int8", role="input")
    mask = dram.add_buffer("mask", batch * kb, d, "int32", role="input")
    y = dram.add_buffer("y", batch * seq, hp, "int8", role="output")
    em = Emitter()
    em.begin_layer("attention")
    spans = [(b * seq, seq, b * kb) for b in range(batch)]  # padded: (row, length, mask row)
    lower_attention(em, cfg, qkv, y, params, mask, spans=spans, heads=heads, head_blocks=hb)
    m = np.zeros((batch, kb * d), dtype=np.int64)
    for b in range(batch):
        m[b, :max(1, seq - b)] = 1
    inputs = {"qkv": rng.integers(-128, 128, (batch * seq, 3 * hp)),
              "mask": m.reshape(batch * kb, d)}
    prog = Program(config=cfg, instructions=em.finish(), dram_init=dram.image(),
                   dram_size=dram.size, tensors=dram.tensors,
                   meta={"kind": "attention", "layer_spans": em.layers})
    return prog, inputs


def attn_jobs(cfg: MachineConfig, cases=ATTN_CASES):
    """Jobs in the form rtl_cases.run_and_check takes (reference ``y``: the functional sim's)."""
    from sim.functional import run_program

    out = []
    for n, case in enumerate(cases):
        prog, inputs = attn_program(cfg, *case, seed=60 + n)
        func, _ = run_program(prog, inputs)
        y = prog.read_tensor(func.dram, "y")
        assert np.unique(y).size > 3 or y.size < 8, (case, "degenerate test data")
        out.append((prog, inputs, {"y": y}, make_job(prog, inputs, 700 + n, 400_000)))
    return out
