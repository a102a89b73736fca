"""Small self-contained programs for hardware and simulator tests (random data, seeded).

``linear_program`` uses only NOP / LOAD / STORE / GEMM, so RTL without the vector unit can run it.
``linear_chain_program`` chains layers through REQUANT (int8 between layers).
"""

from __future__ import annotations

import numpy as np

from isa import MachineConfig, Program, numerics
from isa.layout import nblocks

from .dram import DramBuilder
from .emitter import Emitter
from .lower_linear import Epilogue, lower_linear


def _weights(rng: np.random.Generator, k: int, n: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Random int8 W [k, n] and its K-padded copy [ceil(k/dim)*dim, n] as stored in DRAM."""
    w = rng.integers(-128, 128, size=(k, n), dtype=np.int64)
    padded = np.zeros((nblocks(k, dim) * dim, n), dtype=np.int64)
    padded[:k] = w
    return w, padded


def _check_shape(**dims: int) -> None:
    for name, v in dims.items():
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name}={v!r}: expected a positive int")


def linear_program(cfg: MachineConfig, m: int, k: int, n: int, *, bias: bool = False,
                   accumulate: bool = False, seed: int = 0):
    """``y = x @ w (+ x2 @ w2 if accumulate) (+ b if bias)`` as int32, x int8 [m, k].

    Returns (program, inputs, reference) where inputs maps input tensor names to int arrays and
    reference holds the exact int64 result ``y`` and the operands.
    """
    _check_shape(m=m, k=k, n=n)
    rng = np.random.default_rng(seed)
    d = cfg.dim
    dram = DramBuilder(cfg)
    w, wp = _weights(rng, k, n, d)
    wt = dram.add_const("w", wp, "int8")
    terms_data = [("x", w)]
    extra = []
    if accumulate:
        k2 = max(1, k // 2 + 3)
        w2, wp2 = _weights(rng, k2, n, d)
        extra.append(("x2", k2, w2, dram.add_const("w2", wp2, "int8")))
    b = rng.integers(-(1 << 20), 1 << 20, size=(1, n), dtype=np.int64) if bias else None
    bt = dram.add_const("b", b, "int32") if bias else None
    x_t = dram.add_buffer("x", m, k, "int8", role="input")
    terms = [(x_t, wt)]
    inputs = {"x": rng.integers(-128, 128, size=(m, k), dtype=np.int64)}
    y = inputs["x"] @ w
    for name, k2, w2, w2t in extra:
        t = dram.add_buffer(name, m, k2, "int8", role="input")
        terms.append((t, w2t))
        inputs[name] = rng.integers(-128, 128, size=(m, k2), dtype=np.int64)
        y = y + inputs[name] @ w2
        terms_data.append((name, w2))
    if b is not None:
        y = y + b
    out = dram.add_buffer("y", m, n, "int32", role="output")
    em = Emitter()
    em.begin_layer("linear")
    lower_linear(em, cfg, terms, out, Epilogue("acc32", bias=bt))
    prog = Program(config=cfg, instructions=em.finish(), dram_init=dram.image(),
                   dram_size=dram.size, tensors=dram.tensors,
                   meta={"kind": "linear", "m": m, "k": k, "n": n, "bias": bias,
                         "accumulate": accumulate, "seed": seed, "layer_spans": em.layers})
    ref = {"y": y, "w": w, "b": b, **{f"w_{name}": wv for name, wv in terms_data}}
    return prog, inputs, ref


def linear_chain_program(cfg: MachineConfig, m: int, widths: list[int], *, seed: int = 0):
    """A chain x -> [linear + bias + requant] * (len(widths)-2) -> linear + bias (int32).

    ``widths`` = [k0, k1, ..., kL]. Returns (program, inputs, reference) with the exact int64
    result ``y`` computed with isa.numerics (the same integer rules the simulator uses).
    """
    if len(widths) < 2:
        raise ValueError(f"widths={widths!r}: expected at least two layer widths")
    _check_shape(m=m, **{f"widths[{i}]": v for i, v in enumerate(widths)})
    rng = np.random.default_rng(seed)
    d = cfg.dim
    dram = DramBuilder(cfg)
    layers = []
    for i, (k, n) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        w, wp = _weights(rng, k, n, d)
        b = rng.integers(-4000, 4000, size=(1, n), dtype=np.int64)
        wt = dram.add_const(f"w{i}", wp, "int8")
        last = i == len(widths) - 2
        if last:
            pt = dram.add_const(f"b{i}", b, "int32")
            layers.append((w, b, None, None, wt, pt))
        else:
            mult, shift = numerics.quantize_multiplier(np.full(n, 40.0 / (np.sqrt(k) * 74 * 74)))
            pt = dram.add_const(f"p{i}", np.stack([b[0], mult, shift]), "int32")
            layers.append((w, b, mult, shift, wt, pt))
    x = rng.integers(-128, 128, size=(m, widths[0]), dtype=np.int64)
    cur = dram.add_buffer("x", m, widths[0], "int8", role="input")
    em = Emitter()
    val = x
    for i, (w, b, mult, shift, wt, pt) in enumerate(layers):
        n = w.shape[1]
        em.begin_layer(f"linear{i}")
        if mult is None:
            out = dram.add_buffer("y", m, n, "int32", role="output")
            lower_linear(em, cfg, [(cur, wt)], out, Epilogue("acc32", bias=pt))
            val = val @ w + b
        else:
            out = dram.add_buffer(f"h{i}", m, n, "int8")
            lower_linear(em, cfg, [(cur, wt)], out, Epilogue("requant", params=pt))
            val = numerics.requant8(val @ w, b, mult, shift)
        cur = out
    prog = Program(config=cfg, instructions=em.finish(), dram_init=dram.image(),
                   dram_size=dram.size, tensors=dram.tensors,
                   meta={"kind": "linear_chain", "m": m, "widths": list(widths), "seed": seed,
                         "layer_spans": em.layers})
    return prog, {"x": x}, {"y": val}
