"""Integer-only quantization (after I-BERT): calibration, then every integer constant.

Weights: int8, symmetric, per output channel, codes chosen by GPTQ against the calibration inputs
(compiler/gptq.py). Activations: int8, symmetric, one scale per channel migrated into the next
layer's weights (SmoothQuant-style strength ``alpha``); Q and K one scale per head (they meet in
one dot product), V per channel (the attention engine rescales each output column). With
``act_bits=16`` (the default) the LayerNorm outputs and the GELU output are 16-bit (two int8
planes, docs/isa.md "16-bit tiles") on the same per-channel scale shape, the calibrated maximum
at ``qmax`` instead of 127; ``qmax`` is chosen per activation so that no int32 accumulator of
the GEMM that reads it can overflow (``wide_qmax``, docs/architecture.md "Short inputs").
Residual sums and the LayerNorm inputs are int32 with 2**20 levels for the calibrated maximum.
Every multiplier is a fixed-point (m, s) pair from isa.numerics.quantize_multiplier. The
measurements behind each choice: benchmarks/quant_ablation.py, docs/architecture.md "Numerics".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from isa import numerics
from isa.layout import nblocks

from . import gptq
from .graph import EncoderGraph
from .heads import QHead, quantize_head

RES_LEVELS = float(1 << 20)  # int32 residual / LayerNorm-input full scale
INT32_LIM = (1 << 31) - 1
PARAM_LIM = 1 << 30
#: Activation widths: 8 (every activation int8, ISA version 1's numerics) or 16 (LayerNorm and
#: GELU outputs 16-bit, the default).
ACT_BITS = (8, 16)
DEFAULT_ACT_BITS = 16
#: The high plane of a 16-bit value v is hi = (v - lo) / 256 with |lo| <= 128, so a GEMM's
#: partial sums (high plane first, K chunk by K chunk) are bounded by sum |w| * (|v| + 128).
PLANE_SLACK = 128


class AccumulatorBoundError(ValueError):
    """A 16-bit activation whose GEMM could overflow the int32 accumulator."""


def column_abs_sum(codes: np.ndarray) -> int:
    """max over output columns n of sum_k |w_kn| of int8 weight codes [K, N]."""
    return int(np.abs(np.asarray(codes, dtype=np.int64)).sum(axis=0).max(initial=0))


def wide_qmax(codes: np.ndarray, what: str = "weights") -> int:
    """The largest 16-bit activation level ``qmax`` (<= WIDE_MAX) a GEMM with int8 weight codes
    [K, N] may read: ``max_n sum_k |w_kn| * (qmax + 128) < 2**31``, so neither the result nor
    any partial sum (high plane ``hi * 256 = v - lo``, K chunks) leaves int32 while every
    ``|v| <= qmax``. AccumulatorBoundError if even 127 (int8's range) does not fit."""
    colsum = column_abs_sum(codes)
    qmax = numerics.WIDE_MAX if colsum == 0 else min(numerics.WIDE_MAX,
                                                     INT32_LIM // colsum - PLANE_SLACK)
    if qmax < 127:
        raise AccumulatorBoundError(
            f"{what}: a column with sum |w| = {colsum} leaves a 16-bit activation only "
            f"{qmax} levels before the int32 accumulator could overflow (fewer than int8's "
            "127): use act_bits=8")
    return qmax


def check_wide_bound(codes: np.ndarray, qmax: int, what: str = "weights") -> None:
    """AccumulatorBoundError unless ``max_n sum_k |w_kn| * (qmax + 128) < 2**31``."""
    colsum = column_abs_sum(codes)
    if qmax > numerics.WIDE_MAX or colsum * (qmax + PLANE_SLACK) > INT32_LIM:
        raise AccumulatorBoundError(
            f"{what}: 16-bit activations up to {qmax} times a weight column with sum |w| = "
            f"{colsum} can reach {colsum * (qmax + PLANE_SLACK)}, beyond the int32 accumulator "
            f"({INT32_LIM}); qmax must be <= {min(numerics.WIDE_MAX, wide_qmax(codes, what))}")


#: Captured intermediates that feed a linear layer (their calibration rows drive GPTQ).
LINEAR_INPUTS = ("emb_out", "out", "ctx", "h1", "f")


@dataclass
class Calibration:
    """Per-column max |value| of every captured intermediate over valid tokens (``stats``), the
    Hessian ``X^T X`` of every linear layer's input over valid tokens (``hessians``, float64
    [width, width], for GPTQ) and the encoder-output rows a task head reads (``inputs``)."""

    stats: dict[str, np.ndarray]
    inputs: dict[str, np.ndarray] = field(default_factory=dict)
    hessians: dict[str, np.ndarray] = field(default_factory=dict)
    tokens: int = 0  # valid calibration tokens


def calibrate(graph: EncoderGraph, ids: np.ndarray, mask: np.ndarray) -> Calibration:
    """Run the float graph on the calibration inputs and keep what quantization needs."""
    return calibrate_batches(graph, [(ids, mask)])


def calibrate_batches(graph: EncoderGraph, batches) -> Calibration:
    """``calibrate`` over several (ids, mask) batches (e.g. one per length, so that thousands of
    short requests cost no padding); only the maxima, Hessians and head rows are kept."""
    stats: dict[str, np.ndarray] = {}
    hess: dict[str, np.ndarray] = {}
    first, every = [], []
    tokens = 0
    last_out = f"{len(graph.layers) - 1}.out"
    for ids, mask in batches:
        cap: dict = {}
        graph.forward(ids, mask, capture=cap)
        tokens += int(np.asarray(mask).astype(bool).sum())
        for name, items in cap.items():
            (v, k), = items
            col = np.abs(v[k]).max(axis=0)
            stats[name] = col if name not in stats else np.maximum(stats[name], col)
            if name.rsplit(".", 1)[-1] in LINEAR_INPUTS:
                h = gptq.hessian(v[k])
                hess[name] = h if name not in hess else hess[name] + h
        if graph.head is not None:  # the head reads each sequence's first token
            v, k = cap[last_out][0]
            first.append(v[:, 0])
            every.append(v[k])
    inputs = {}
    if graph.head is not None:
        inputs["head.first"] = np.concatenate(first)
        # the head's activation ranges: every token row (a few sentences have few first rows)
        inputs["head.range"] = np.concatenate(first + every)
    return Calibration(stats, inputs, hess, tokens)


def _scale(maxabs: float, levels: float = 127.0) -> float:
    return max(float(maxabs), 1e-8) / levels


def quant_weight(w: np.ndarray, dim: int, col_map: np.ndarray | None = None,
                 n_out: int | None = None,
                 factor: gptq.Prepared | None = None) -> tuple[np.ndarray, np.ndarray]:
    """nn.Linear W [out, in] -> (int8 K-major [ceil(in/dim)*dim, n_out], scale per out column).

    ``col_map[j]`` is the destination column of output j (for per-head padding). With
    ``factor`` (``gptq.prepare`` of the input's Hessian) the codes are chosen by GPTQ,
    else rounded to nearest."""
    out, k = w.shape
    s = np.abs(w).max(axis=1) / 127.0
    s = np.where(s > 0, s, 1.0)
    if factor is None:
        q = np.clip(np.round(w / s[:, None]), -127, 127).astype(np.int64)
    else:
        q = gptq.round_weights(w, s, factor)
    n_out = out if n_out is None else n_out
    col_map = np.arange(out) if col_map is None else col_map
    kmaj = np.zeros((nblocks(k, dim) * dim, n_out), dtype=np.int64)
    kmaj[:k, col_map] = q.T
    scale = np.zeros(n_out)
    scale[col_map] = s
    return kmaj, scale


def qmul(real) -> tuple[np.ndarray, np.ndarray]:
    return numerics.quantize_multiplier(np.asarray(real, dtype=np.float64))


def bias_q(b: np.ndarray, acc_scale: np.ndarray) -> np.ndarray:
    safe = np.where(acc_scale > 0, acc_scale, 1.0)
    return np.clip(np.round(b / safe), -INT32_LIM, INT32_LIM).astype(np.int64) * (acc_scale > 0)


def ln_params(gamma: np.ndarray, beta: np.ndarray, s_out) -> tuple[np.ndarray, np.ndarray, int]:
    """gamma/beta -> (G, B, shift) with out = (n*G + B) >> shift, n ~ x_hat * 2**LN_NORM_FRAC."""
    g_real = gamma / (s_out * (1 << numerics.LN_NORM_FRAC))
    b_real = beta / s_out
    peak = max(np.abs(g_real).max(), np.abs(b_real).max(), 1e-30)
    shift = int(np.clip(np.floor(np.log2(PARAM_LIM / peak)), 0, numerics.MAX_SHIFT))
    return (np.round(g_real * 2.0**shift).astype(np.int64),
            np.round(b_real * 2.0**shift).astype(np.int64), shift)


def _act_bits(act_bits) -> int:
    if isinstance(act_bits, bool) or act_bits not in ACT_BITS:
        raise ValueError(f"act_bits={act_bits!r} is not one of {ACT_BITS}")
    return int(act_bits)


@dataclass
class QLayer:
    """Integer constants of one layer (arrays are [rows, cols] as stored, see lower_model)."""

    wqkv: np.ndarray
    p_qkv: np.ndarray  # [3, 3*Hp] bias, m, s
    attn_p: np.ndarray  # [heads * (1 + 2*head_blocks), DIM]: per head the ATTN parameter rows
    wo: np.ndarray
    p_res1: np.ndarray  # [5, H]
    ln1_hdr: np.ndarray  # [1, 2] n_valid, shift
    ln1: np.ndarray  # [2, H] gamma, beta
    w1: np.ndarray
    p_gelu: np.ndarray  # [5, F]
    w2: np.ndarray
    p_res2: np.ndarray
    ln2_hdr: np.ndarray
    ln2: np.ndarray
    scales: dict[str, float] = field(default_factory=dict)
    #: the integer level of each activation's calibrated maximum: 127 for int8, the bound of
    #: ``wide_qmax`` for 16-bit ones (x: the layer input, h1, f, out)
    qmax: dict[str, int] = field(default_factory=dict)


@dataclass
class QuantizedModel:
    graph: EncoderGraph
    dim: int
    head_blocks: int  # padded head dimension in column blocks
    s_emb: float
    tables: dict[str, np.ndarray]  # host embedding tables, int32 at s_emb
    emb_ln_hdr: np.ndarray
    emb_ln: np.ndarray
    s_x0: float
    layers: list[QLayer]
    head: QHead | None = None
    act_bits: int = 8  # 16: LayerNorm and GELU outputs are 16-bit planar tensors
    qmax_x0: int = 127  # level of the embedding LayerNorm output's calibrated maximum

    @property
    def wide(self) -> bool:
        return self.act_bits == 16

    @property
    def hp(self) -> int:
        """Width of Q (and of K, V, ctx) with every head padded to whole column blocks."""
        return self.graph.heads * self.head_blocks * self.dim


#: Migration strength of per-channel activation scales into the weights (measured best of
#: alpha in {0, 0.25, 0.5, 0.6, 0.75, 1} on all-MiniLM-L6-v2; docs/architecture.md "Numerics").
SMOOTH_ALPHA = 0.75  # LayerNorm outputs (x, h1)
#: The GELU output (benchmarks/quant_ablation.py: 0.5 and 1 both worse with GPTQ).
FFN_ALPHA = 0.75
#: The attention output (per channel since V is per channel): a weaker migration as well.
CTX_ALPHA = 0.5


def _chan_scale(maxabs: np.ndarray, alpha: float) -> np.ndarray:
    """Per-channel int8 scales ``t * maxabs**alpha`` (SmoothQuant-style migration strength).

    alpha = 1 gives every channel its own full range (the weights that absorb the scale then
    carry the outliers); alpha = 0 is one scale per tensor. Near-dead channels get a floor.
    """
    maxabs = np.asarray(maxabs, dtype=np.float64)
    maxabs = np.maximum(maxabs, max(float(maxabs.max()) * 1e-4, 1e-8))
    sigma = maxabs**alpha
    return sigma * float((maxabs / sigma).max()) / 127.0


def quantize(graph: EncoderGraph, calib: Calibration, dim: int, *,
             alpha: float = SMOOTH_ALPHA, ffn_alpha: float = FFN_ALPHA,
             ctx_alpha: float = CTX_ALPHA, use_gptq: bool = True,
             act_order: bool = gptq.ACT_ORDER, damp: float = gptq.DAMP,
             act_bits: int = DEFAULT_ACT_BITS) -> QuantizedModel:
    """Integer constants for every layer.

    int8 activations get one scale per channel (Q and K one per head). The scale of
    an activation that feeds a linear layer is folded into that layer's weights before they are
    quantized per output column (SmoothQuant, strength ``alpha``), and the residual and
    LayerNorm parameters are per lane anyway, so per-channel scales cost no hardware. With
    ``use_gptq`` every weight matrix is rounded by GPTQ (compiler/gptq.py) against its
    calibration inputs, else to nearest. ``act_bits=16``: the LayerNorm outputs (x, h1, the
    layer outputs) and the GELU output (f) are 16-bit with the int8 scale times
    ``127 / qmax``; the weight codes are the int8 mode's (they are chosen first, on the int8
    scale, and only their scales follow), ``qmax`` from ``wide_qmax`` of the reading GEMM's
    codes (the residual RESADD that also reads x and h1 cannot overflow).
    """
    stats = calib.stats
    wide = _act_bits(act_bits) == 16

    def factor(name: str, s_in: np.ndarray) -> gptq.Prepared | None:
        """GPTQ factor of linear input ``name`` in the smoothed space ``x / s_in``."""
        if not use_gptq:
            return None
        if name not in calib.hessians:
            raise ValueError(f"GPTQ needs the calibration rows of {name!r}: pass a Calibration "
                             "from compiler.quantize.calibrate or use_gptq=False")
        inv = 1.0 / s_in  # the Hessian of x / s_in
        return gptq.prepare(calib.hessians[name] * np.outer(inv, inv), damp=damp,
                            act_order=act_order)

    def widen(codes: np.ndarray, what: str) -> tuple[int, float]:
        """(qmax, scale gain 127 / qmax) of a 16-bit activation read by ``codes``."""
        if not wide:
            return 127, 1.0
        qmax = wide_qmax(codes, what)
        check_wide_bound(codes, qmax, what)
        return qmax, 127.0 / qmax

    h, nh, dh = graph.hidden, graph.heads, graph.head_dim
    hb = nblocks(dh, dim)
    hdp = hb * dim
    hp = nh * hdp
    head_cols = (np.arange(nh)[:, None] * hdp + np.arange(dh)[None, :]).reshape(-1)

    s_emb = _scale(stats["emb"].max(), RES_LEVELS)
    tables = embedding_tables(graph, s_emb)
    s_x8 = _chan_scale(stats["emb_out"], alpha)  # int8 scale of the layer input
    emb_hdr = emb_ln = None
    s_x0 = qmax_x0 = None

    layers = []
    for i, lw in enumerate(graph.layers):
        st = {k.split(".", 1)[1]: v for k, v in stats.items() if k.startswith(f"{i}.")}
        # -- QKV: one fused GEMM, columns [Q heads | K heads | V heads], each head padded.
        wqkv = np.zeros((nblocks(h, dim) * dim, 3 * hp), dtype=np.int64)
        s_w = np.zeros(3 * hp)
        bq = np.zeros(3 * hp, dtype=np.int64)
        out_s = np.zeros(3 * hp)
        s_head = {}
        f_x = factor("emb_out" if i == 0 else f"{i - 1}.out", s_x8)
        for j, w in enumerate((lw.wq, lw.wk, lw.wv)):
            cmap = head_cols + j * hp
            kmaj, sc = quant_weight(w * s_x8[None, :], dim, cmap, 3 * hp, f_x)
            wqkv[:, cmap] = kmaj[:, cmap]
            s_w[cmap] = sc[cmap]
        # The layer input's width, now that the codes that read it are known.
        qmax_x, gain = widen(wqkv, f"layer {i} QKV weights")
        s_x = s_x8 * gain
        s_w = s_w * gain
        if i == 0:
            g, b, sh = ln_params(graph.emb_ln_g, graph.emb_ln_b, s_x)
            emb_hdr, emb_ln = np.array([[h, sh]]), np.stack([g, b])
            s_x0, qmax_x0 = s_x, qmax_x
        else:
            _set_ln2(layers[-1], graph.layers[i - 1], s_x, qmax_x, h)
        for j, (name, bias) in enumerate((("q", lw.bq), ("k", lw.bk), ("v", lw.bv))):
            cmap = head_cols + j * hp
            if name == "v":  # per channel: the attention engine rescales each output column
                out_s[cmap] = s_v = _chan_scale(st["v"], 1.0)
            else:  # Q and K meet in one dot product per head: one scale per head
                per_head = np.maximum(st[name].reshape(nh, dh).max(axis=1), 1e-8) / 127.0
                s_head[name] = per_head
                out_s[cmap] = np.repeat(per_head, dh)
            bq[cmap] = bias_q(bias, s_w[cmap])
        ratio = np.where(out_s > 0, s_w / np.where(out_s > 0, out_s, 1.0), 0.0)
        m, s = qmul(ratio)
        p_qkv = np.stack([bq, m, s])
        # -- attention: score scale per head, output scale per column
        s_ctx_in = _chan_scale(st["ctx"], ctx_alpha)
        ms, ss = qmul(s_head["q"] * s_head["k"] / np.sqrt(dh) * (1 << numerics.SOFTMAX_FRAC))
        mo, so = qmul(s_v * 2.0**-numerics.PROB_FRAC / s_ctx_in)
        attn_p = _attn_params(ms, ss, mo, so, nh, dh, hb, dim)
        s_ctx = np.zeros(hp)
        s_ctx[head_cols] = s_ctx_in
        # -- output projection + residual + LayerNorm 1
        wo, s_wo = quant_weight(lw.wo * s_ctx_in[None, :], dim,
                                factor=factor(f"{i}.ctx", s_ctx_in))
        wo_pad = np.zeros((hp, h), dtype=np.int64)
        wo_pad[head_cols] = wo[:h]
        s_r1 = _scale(st["r1"].max(), RES_LEVELS)
        p_res1 = _resadd_params(lw.bo, s_wo, s_r1, s_x)
        s_h1_8 = _chan_scale(st["h1"], alpha)
        # -- FFN1 (its codes decide the width of LayerNorm 1's output) + GELU
        w1, s_w1 = quant_weight(lw.w1 * s_h1_8[None, :], dim, factor=factor(f"{i}.h1", s_h1_8))
        qmax_h1, gain = widen(w1, f"layer {i} FFN1 weights")
        s_h1, s_w1 = s_h1_8 * gain, s_w1 * gain
        g, b, sh = ln_params(lw.ln1_g, lw.ln1_b, s_h1)
        ln1_hdr, ln1 = np.array([[h, sh]]), np.stack([g, b])
        s_f8 = _chan_scale(st["f"], ffn_alpha)
        # -- FFN2 (its codes decide the width of the GELU output) + residual + LayerNorm 2
        w2, s_w2 = quant_weight(lw.w2 * s_f8[None, :], dim, factor=factor(f"{i}.f", s_f8))
        qmax_f, gain = widen(w2, f"layer {i} FFN2 weights")
        s_f, s_w2 = s_f8 * gain, s_w2 * gain
        m_in, s_in = qmul(s_w1 * (1 << numerics.GELU_FRAC))
        m_out, s_out = qmul(2.0**-numerics.GELU_FRAC / s_f)
        p_gelu = np.stack([bias_q(lw.b1, s_w1), m_in, s_in, m_out, s_out])
        s_r2 = _scale(st["r2"].max(), RES_LEVELS)
        p_res2 = _resadd_params(lw.b2, s_w2, s_r2, s_h1)
        last = i == len(graph.layers) - 1
        # The encoder output feeds no linear layer: give every channel its full int8 range.
        s_x8 = _chan_scale(st["out"], 1.0 if last else alpha)
        layers.append(QLayer(wqkv, p_qkv, attn_p, wo_pad, p_res1, ln1_hdr, ln1, w1, p_gelu, w2,
                             p_res2, None, None,
                             scales={"x": s_x, "ctx": s_ctx, "h1": s_h1, "f": s_f,
                                     "r1": s_r1, "r2": s_r2},
                             qmax={"x": qmax_x, "h1": qmax_h1, "f": qmax_f}))
    qhead = None
    if graph.head is not None:
        if "head.first" not in calib.inputs:
            raise ValueError("the head needs the calibration rows 'head.first': pass a "
                             "Calibration from compiler.quantize.calibrate")
        qhead = quantize_head(graph.head, calib.inputs["head.range"], s_x8, dim)
        qmax_out, gain = widen(qhead.w_pool, "pooler weights")
        if wide:
            qhead = quantize_head(graph.head, calib.inputs["head.range"], s_x8, dim,
                                  in_gain=gain)
    else:  # the encoder output feeds no GEMM: its whole 16-bit range
        qmax_out, gain = (numerics.WIDE_MAX, 127.0 / numerics.WIDE_MAX) if wide else (127, 1.0)
    _set_ln2(layers[-1], graph.layers[-1], s_x8 * gain, qmax_out, h)
    return QuantizedModel(graph, dim, hb, s_emb, tables, emb_hdr, emb_ln, s_x0, layers, qhead,
                          act_bits=16 if wide else 8, qmax_x0=qmax_x0)


def _set_ln2(ql: QLayer, lw, s_out: np.ndarray, qmax: int, h: int) -> None:
    """LayerNorm 2 of a layer, once the scale of its output (the next layer's input) is known."""
    g, b, sh = ln_params(lw.ln2_g, lw.ln2_b, s_out)
    ql.ln2_hdr, ql.ln2 = np.array([[h, sh]]), np.stack([g, b])
    ql.scales["out"] = s_out
    ql.qmax["out"] = qmax


def embedding_tables(graph: EncoderGraph, s_emb: float) -> dict[str, np.ndarray]:
    """The host's integer embedding tables (word, position, token type) at scale ``s_emb``."""
    tables = {"word": graph.word_emb, "pos": graph.pos_emb}
    if graph.type_emb is not None:
        tables["type"] = graph.type_emb
    return {k: np.round(v / s_emb).astype(np.int64) for k, v in tables.items()}


def _resadd_params(bias, acc_scale, s_r, s_res) -> np.ndarray:
    m1, s1 = qmul(acc_scale / s_r)
    m2, s2 = qmul(np.broadcast_to(s_res / s_r, bias.shape))
    return np.stack([bias_q(bias, acc_scale), m1, s1, m2, s2])


def _attn_params(ms, ss, mo, so, nh: int, dh: int, hb: int, dim: int) -> np.ndarray:
    """ATTN parameter rows of every head (docs/isa.md): [m_s, s_s] then per head-dimension block
    a row of output multipliers and a row of output shifts (padded lanes 0: output 0)."""
    p = np.zeros((nh, 1 + 2 * hb, dim), dtype=np.int64)
    p[:, 0, 0], p[:, 0, 1] = ms, ss
    for vals, k in ((mo, 1), (so, 2)):
        lanes = np.zeros((nh, hb * dim), dtype=np.int64)
        lanes[:, :dh] = np.asarray(vals).reshape(nh, dh)
        p[:, k::2] = lanes.reshape(nh, hb, dim)
    return p.reshape(nh * (1 + 2 * hb), dim)
