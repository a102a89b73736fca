"""Compiler-made programs with the vector epilogues for the RTL tests: the embedding LayerNorm
(compiler.lower_layernorm), a linear layer with each epilogue (compiler.lower_linear: requant,
gelu, resadd_ln) and a chain linear -> GELU -> linear -> RESADD -> LAYERNORM. Parameters are
chosen so that values land in the operations' interesting ranges (not only saturation); the
reference is the functional simulator (DRAM byte-equal), ``y`` is the output tensor."""

from __future__ import annotations

import numpy as np

from compiler.dram import DramBuilder
from compiler.emitter import Emitter
from compiler.lower_layernorm import lower_layernorm
from compiler.lower_linear import Epilogue, lower_linear
from compiler.testprogs import _weights
from isa import MachineConfig, Program, numerics

from .rtl_cases import make_job

#: (kind, m, k, n): shapes below, at and above DIM.
VECTOR_CASES = [
    ("layernorm", 5, 0, 9), ("layernorm", 9, 0, 16), ("requant", 6, 9, 7), ("gelu", 7, 10, 9),
    ("resadd_ln", 5, 6, 11), ("chain", 6, 7, 13),
]


def _mq(real, n):
    return numerics.quantize_multiplier(np.full(n, real))


def _ln(dram, name, n, rng, shift=18):
    hdr = dram.add_const(f"{name}.hdr", np.array([[n, shift]]), "int32")
    g = rng.integers(1 << 9, 1 << 11, n)
    b = rng.integers(-(1 << 16), 1 << 16, n)
    return hdr, dram.add_const(f"{name}.p", np.stack([g, b]), "int32")


def _linear_consts(dram, cfg, rng, name, k, n, kind):
    """The weights and epilogue parameters of one linear layer (constants come first)."""
    w, wp = _weights(rng, k, n, cfg.dim)
    wt = dram.add_const(f"{name}.w", wp, "int8")
    acc = np.sqrt(k) * 74 * 74  # typical |x @ w|
    b = rng.integers(-4000, 4000, n)
    if kind == "requant":
        p = np.stack([b, *_mq(40.0 / acc, n)])
    elif kind == "gelu":
        p = np.stack([b, *_mq(3 * 4096 / acc, n), *_mq(40.0 / 4096, n)])
    else:  # resadd_ln: int32 residual sum at ~2^12 per unit
        p = np.stack([b, *_mq(4096 / acc, n), *_mq(4096 / 64, n)])
    pt = dram.add_const(f"{name}.p", p, "int32")
    ln = _ln(dram, f"{name}.ln", n, rng) if kind == "resadd_ln" else (None, None)
    return wt, {"kind": kind, "params": pt, "ln_header": ln[0], "ln_params": ln[1]}


def _lower(em, cfg, name, x, wt, ep, out, residual=None):
    em.begin_layer(name)
    lower_linear(em, cfg, [(x, wt)], out, Epilogue(residual=residual, **ep))


def vector_program(cfg: MachineConfig, kind: str, m: int, k: int, n: int, seed: int = 0):
    """(program, inputs) for one case of VECTOR_CASES."""
    rng = np.random.default_rng(seed)
    dram = DramBuilder(cfg)
    em = Emitter()
    if kind == "layernorm":
        hdr, lnp = _ln(dram, "ln", n, rng)
        x = dram.add_buffer("x", m, n, "int32", role="input")
        y = dram.add_buffer("y", m, n, "int8", role="output")
        em.begin_layer("layernorm")
        lower_layernorm(em, cfg, x, y, hdr, lnp)
        inputs = {"x": rng.integers(-(1 << 14), 1 << 14, (m, n)) + rng.integers(-500, 500, (m, 1))}
    elif kind == "chain":  # x -> GELU(x W1) -> LN(RESADD(h W2, x))
        w1, ep1 = _linear_consts(dram, cfg, rng, "ffn1", n, k, "gelu")
        w2, ep2 = _linear_consts(dram, cfg, rng, "ffn2", k, n, "resadd_ln")
        x = dram.add_buffer("x", m, n, "int8", role="input")
        h = dram.add_buffer("h", m, k, "int8")
        y = dram.add_buffer("y", m, n, "int8", role="output")
        _lower(em, cfg, "ffn1", x, w1, ep1, h)
        _lower(em, cfg, "ffn2", h, w2, ep2, y, residual=x)
        inputs = {"x": rng.integers(-128, 128, (m, n))}
    else:
        wt, ep = _linear_consts(dram, cfg, rng, "lin", k, n, kind)
        x = dram.add_buffer("x", m, k, "int8", role="input")
        res = dram.add_buffer("r", m, n, "int8", role="input") if kind == "resadd_ln" else None
        y = dram.add_buffer("y", m, n, "int8", role="output")
        _lower(em, cfg, "lin", x, wt, ep, y, residual=res)
        inputs = {"x": rng.integers(-128, 128, (m, k))}
        if res is not None:
            inputs["r"] = rng.integers(-128, 128, (m, n))
    prog = Program(config=cfg, instructions=em.finish(), dram_init=dram.image(),
                   dram_size=dram.size, tensors=dram.tensors,
                   meta={"kind": kind, "layer_spans": em.layers})
    return prog, inputs


def vector_jobs(cfg: MachineConfig, cases=VECTOR_CASES):
    """Jobs in the form rtl_cases.run_and_check takes; the reference ``y`` is the functional
    simulator's (the DRAM image is compared byte for byte anyway)."""
    from sim.functional import run_program

    out = []
    for n, case in enumerate(cases):
        prog, inputs = vector_program(cfg, *case, seed=40 + n)
        func, _ = run_program(prog, inputs)
        y = prog.read_tensor(func.dram, "y")
        assert np.unique(y).size > 3, (case, "degenerate test data")
        out.append((prog, inputs, {"y": y}, make_job(prog, inputs, 500 + n, 400_000)))
    return out
