"""Which quantization point costs short inputs their accuracy: a float emulation of the integer
program (compiler/quantize.py's scales and int8 weight codes, float arithmetic) with each
quantization point switched on alone, on all-MiniLM-L6-v2 (docs/architecture.md "Short inputs").

Run: .venv/bin/python benchmarks/quant_attribution.py [--short N] [--no-natural] [--precision]
[--lists ...]
(``--short 0``: no random short requests, the default calibration; with ``--no-natural`` too: the
64 calibration sentences only, the calibration before 2026-12-02.)
Points: w (every int8 weight matrix; also per kind wq wk wv wo w1 w2), x (LayerNorm outputs),
qk (Q, K per head), v (V per channel), p (uint8 probabilities), ctx (attention output), f (GELU
output). Inputs: DEV_SHORT below (1 to 4 words, a development list) and the built-in texts;
``--lists ... heldout`` adds the tests' held-out list (tests/heldout_texts.py) as a final check
of a design already chosen on the other lists, never for choosing knobs. Prints min and mean
sentence-embedding cosine against PyTorch FP32 for "all points", "only <point>" and
"all but <point>".
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from quant_ablation import fp32_reference  # benchmarks/ (this script's folder)

import compiler.quantize as qz
from compiler import load_model
from compiler.calibration import SHORT_STUDY, calibration_inputs
from compiler.graph import _gelu, _layernorm, import_model
from encore.accuracy import mean_pool
from encore.inputs import DEFAULT_TEXTS

DEV_SHORT = ["yes please", "no thanks", "hmm", "Wow!", "good night", "help", "how?", "I see",
             "Welcome back", "Nice", "wait", "Sorry!", "who cares?", "love it", "See you soon",
             "fine", "really?", "Cheers", "London", "2024", "Bye!", "me too", "Oh no",
             "what's up?", "The weather is nice today.", "Where is the nearest pharmacy?",
             "I would like to order a large pizza with mushrooms.",
             "The library is closed on Sundays."]
#: Wider activations tried by ``--precision`` (levels per side: 255 ~ int8 with a zero point
#: for the one-sided GELU output or 9 bits, 32767 16 bits).
PRECISION = [("f 255", {"f": 255}), ("f 16-bit", {"f": 32767}), ("x 255", {"x": 255}),
             ("x 16-bit", {"x": 32767}), ("ctx 255", {"ctx": 255}),
             ("x, f 255", {"x": 255, "f": 255}), ("x, f 16-bit", {"x": 32767, "f": 32767}),
             ("x, f, ctx 16-bit", {"x": 32767, "f": 32767, "ctx": 32767})]
POINTS = ("w", "x", "qk", "v", "p", "ctx", "f")
KINDS = ("wq", "wk", "wv", "wo", "w1", "w2")


def quantized_weights(g, calib, dim):
    """Quantize, recording every weight matrix's dequantized codes (smoothed space, [out, in])."""
    rec, orig = [], qz.quant_weight

    def wrap(w, d, col_map=None, n_out=None, factor=None):
        kmaj, scale = orig(w, d, col_map, n_out, factor)
        cm = np.arange(w.shape[0]) if col_map is None else col_map
        rec.append(kmaj[:w.shape[1], cm].T * scale[cm][:, None])
        return kmaj, scale

    qz.quant_weight = wrap
    try:
        # the emulation applies its own grids (``levels``) to the int8 scales
        q = qz.quantize(g, calib, dim, act_bits=8)
    finally:
        qz.quant_weight = orig
    return q, rec


def _q(x, s, levels=127):
    """Symmetric quantization at the int8 scale ``s``, or on a grid ``levels / 127`` times finer
    over the same range (what a wider activation would give: 255 ~ a zero point, 32767 16 bits)."""
    s = s * 127.0 / levels
    return np.clip(np.round(x / s), -levels, levels) * s


def forward(g, q, rec, st, ids, mask, on, levels=None):
    """Float forward with the quantization points in ``on`` applied (see the module doc);
    ``levels`` maps an activation point (x, qk, v, ctx, f) to a finer grid than int8's 127."""
    lv = {k: 127 for k in ("x", "qk", "v", "ctx", "f")} | dict(levels or {})
    b, t = ids.shape
    nh, dh = g.heads, g.head_dim
    add = np.where(mask.astype(bool), 0.0, -1e30)[:, None, None, :]
    x = _layernorm(g.embed(ids), g.emb_ln_g, g.emb_ln_b, g.eps)
    x = _q(x, q.s_x0, lv["x"]) if "x" in on else x
    cols = (np.arange(nh)[:, None] * q.head_blocks * q.dim + np.arange(dh)[None, :]).reshape(-1)
    for i, lw in enumerate(g.layers):
        sc = q.layers[i].scales
        deq = dict(zip(KINDS, rec[6 * i: 6 * i + 6], strict=True))
        s_ctx = sc["ctx"][cols]
        s_in = {"wq": sc["x"], "wk": sc["x"], "wv": sc["x"], "wo": s_ctx, "w1": sc["h1"],
                "w2": sc["f"]}

        def w(kind, fl, i=i, deq=deq, s_in=s_in):
            return deq[kind] / s_in[kind] if ("w" in on or kind in on) else fl

        qq, kk, vv = (x @ w("wq", lw.wq).T + lw.bq, x @ w("wk", lw.wk).T + lw.bk,
                      x @ w("wv", lw.wv).T + lw.bv)
        if "qk" in on:
            for name, arr in (("q", qq), ("k", kk)):
                ph = np.maximum(st[f"{i}.{name}"].reshape(nh, dh).max(1), 1e-8) / 127
                arr[:] = _q(arr, np.repeat(ph, dh), lv["qk"])
        vv = _q(vv, qz._chan_scale(st[f"{i}.v"], 1.0), lv["v"]) if "v" in on else vv

        def heads(z):
            return z.reshape(b, t, nh, dh).transpose(0, 2, 1, 3)

        s = heads(qq) @ heads(kk).transpose(0, 1, 3, 2) / math.sqrt(dh) + add
        p = np.exp(s - s.max(-1, keepdims=True))
        p = p / p.sum(-1, keepdims=True)
        p = np.minimum(np.round(p * 256), 255) / 256 if "p" in on else p
        ctx = (p @ heads(vv)).transpose(0, 2, 1, 3).reshape(b, t, -1)
        ctx = _q(ctx, s_ctx, lv["ctx"]) if "ctx" in on else ctx
        h1 = _layernorm(ctx @ w("wo", lw.wo).T + lw.bo + x, lw.ln1_g, lw.ln1_b, g.eps)
        h1 = _q(h1, sc["h1"], lv["x"]) if "x" in on else h1
        f = _gelu(h1 @ w("w1", lw.w1).T + lw.b1)
        f = _q(f, sc["f"], lv["f"]) if "f" in on else f
        x = _layernorm(f @ w("w2", lw.w2).T + lw.b2 + h1, lw.ln2_g, lw.ln2_b, g.eps)
        x = _q(x, sc["out"], lv["x"]) if "x" in on else x
    return x


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--short", type=int, default=SHORT_STUDY,
                    help="short requests in the calibration set")
    ap.add_argument("--precision", action="store_true",
                    help="instead: every point on, with wider activations at some points "
                         "(what an ISA with wider activations would give)")
    ap.add_argument("--no-natural", action="store_true",
                    help="leave out the natural calibration phrases and everyday sentences")
    ap.add_argument("--lists", nargs="+", choices=("dev", "builtin", "heldout"),
                    default=["dev", "builtin"], help="input lists to evaluate")
    args = ap.parse_args()
    lm = load_model("minilm-l6")
    g = import_model(lm.model)
    batches = calibration_inputs(lm.tokenizer, g.word_emb.shape[0], g.max_seq, g.pad_id,
                                 short=args.short, natural=not args.no_natural)
    calib = qz.calibrate_batches(g, batches)
    q, rec = quantized_weights(g, calib, 16)
    lists = {"dev": ("dev short", DEV_SHORT), "builtin": ("built-in", list(DEFAULT_TEXTS))}
    if "heldout" in args.lists:
        from tests.heldout_texts import HELDOUT_TEXTS
        lists["heldout"] = ("held-out", list(HELDOUT_TEXTS))
    for name, texts in (lists[k] for k in args.lists):
        ids, mask, ref_e = fp32_reference(lm, texts)
        print(f"\n{name}: | points | min cosine | mean cosine | worst input |\n|---|---|---|---|")
        sets = [("all", set(POINTS), {})]
        if args.precision:
            sets += [(f"all, {lab}", set(POINTS), lv) for lab, lv in PRECISION]
        else:
            sets += [(f"only {k}", {k}, {}) for k in POINTS + KINDS] + \
                [(f"all but {k}", set(POINTS) - {k}, {}) for k in POINTS]
        for label, on, lv in sets:
            c = (mean_pool(forward(g, q, rec, calib.stats, ids, mask, on, lv), mask)
                 * ref_e).sum(-1)
            print(f"| {label} | {c.min():.4f} | {c.mean():.4f} | {texts[int(c.argmin())][:24]} |",
                  flush=True)


if __name__ == "__main__":
    main()
