"""Lowering of a quantized encoder to one program: DRAM layout, then kernel after kernel.

Every kernel reads its inputs from DRAM and writes its output to DRAM, so each layer output can be
read back and compared with PyTorch; double-buffered tiles and dependency tokens keep the DMA
traffic under the compute. The exception is the feed-forward block: where it fits and the cost
model prefers it, FFN1 -> GELU -> FFN2 -> RESADD -> LAYERNORM is one kernel whose 4x-wide
intermediate stays on chip (compiler/lower_ffn.py); ``meta["planner"]`` says per layer which
lowering was used and why.
"""

from __future__ import annotations

from isa import MachineConfig, Program

from .dram import DramBuilder
from .emitter import Emitter
from .heads import add_pooler_consts, lower_pooler
from .lower_attention import lower_attention
from .lower_ffn import FfnTensors, lower_ffn
from .lower_layernorm import lower_layernorm
from .lower_linear import Epilogue, lower_linear
from .prefetch import Recorder
from .quantize import QuantizedModel, check_wide_bound


def lower_model(q: QuantizedModel, cfg: MachineConfig, *, batch: int, seq: int,
                lengths: list[int] | None = None, padded: bool = True,
                meta: dict | None = None, fuse_ffn: bool = True,
                keep_intermediates: bool = True, prefetch: bool = True) -> Program:
    """The encoder program for ``batch`` sequences with real ``lengths`` (default: all ``seq``).

    Padded (``padded=True``): every sequence takes ``seq`` rows and a key mask hides its padding.
    Unpadded: the linear layers, LayerNorms, GELU and residuals run on the packed real tokens
    (M = sum of lengths) and attention runs per sequence on its own length. Useful MACs count
    the real tokens only in both modes. With ``q.act_bits == 16`` the LayerNorm outputs
    (``emb.out``, ``L*.h1``, ``L*.out``) and the GELU outputs (``L*.ffn``) are planar int16
    tensors; every GEMM that reads one is checked against the accumulator bound first.
    ``fuse_ffn``: let the planner fuse each feed-forward block (compiler/lower_ffn.py; False:
    the per-kernel lowering everywhere). ``keep_intermediates``: a fused block still stores its
    GELU output to ``L*.ffn`` (STOREs on the store queue, beside the compute) so that it can be
    read back; False leaves that tensor unwritten. ``prefetch``: move each kernel's first
    independent LOADs (weight tiles, parameters, an older residual) ahead of the previous
    kernel's epilogue (compiler/prefetch.py; False: every kernel's LOADs in its own span).
    """
    g = q.graph
    d, h, f = cfg.dim, g.hidden, g.ffn
    lengths = [seq] * batch if lengths is None else [int(n) for n in lengths]
    if len(lengths) != batch or not all(1 <= n <= seq for n in lengths):
        raise ValueError(f"lengths {lengths} do not fit a batch of {batch} x seq {seq}")
    spans, mask_rows, row = [], 0, 0
    for n in lengths:
        rows = seq if padded else n
        spans.append((row, rows, mask_rows))
        row += rows
        mask_rows += -(-rows // d)
    m = row
    hp = q.hp
    act = "int16" if q.wide else "int8"
    if q.wide:  # the accumulator bound of every GEMM reading a 16-bit activation
        for i, ql in enumerate(q.layers):
            check_wide_bound(ql.wqkv, ql.qmax["x"], f"layer {i} QKV weights")
            check_wide_bound(ql.w1, ql.qmax["h1"], f"layer {i} FFN1 weights")
            check_wide_bound(ql.w2, ql.qmax["f"], f"layer {i} FFN2 weights")
        if q.head is not None:
            check_wide_bound(q.head.w_pool, q.layers[-1].qmax["out"], "pooler weights")
    dram = DramBuilder(cfg)
    # -- constants
    for name, table in q.tables.items():
        t = dram.add_const(f"host.{name}_emb", table, "int32", scale=q.s_emb)
        dram.tensors[t.name].role = "host"
    emb_hdr = dram.add_const("emb.ln_hdr", q.emb_ln_hdr, "int32")
    emb_ln = dram.add_const("emb.ln", q.emb_ln, "int32")
    consts = []
    for i, ql in enumerate(q.layers):
        c = {}
        for name in ("wqkv", "wo", "w1", "w2"):
            c[name] = dram.add_const(f"L{i}.{name}", getattr(ql, name), "int8")
        for name in ("p_qkv", "attn_p", "p_res1", "ln1_hdr", "ln1", "p_gelu", "p_res2",
                     "ln2_hdr", "ln2"):
            c[name] = dram.add_const(f"L{i}.{name}", getattr(ql, name), "int32")
        consts.append(c)
    head_consts = add_pooler_consts(dram, q.head) if q.head is not None else None
    # -- buffers
    emb_in = dram.add_buffer("input.emb", m, h, "int32", role="input", scale=q.s_emb)
    mask = dram.add_buffer("input.mask", mask_rows, d, "int32", role="input")
    x = dram.add_buffer("emb.out", m, h, act, scale=q.s_x0)
    layer_outputs = ["emb.out"]
    planner: dict[str, str] = {}
    em = Recorder()  # kernels record; replayed into an Emitter with the prefetch moves below
    em.begin_layer("embeddings.layernorm")
    lower_layernorm(em, cfg, emb_in, x, emb_hdr, emb_ln)
    for i, (ql, c) in enumerate(zip(q.layers, consts, strict=True)):
        sc = ql.scales
        last = i == len(q.layers) - 1
        qkv = dram.add_buffer(f"L{i}.qkv", m, 3 * hp, "int8")
        ctx = dram.add_buffer(f"L{i}.ctx", m, hp, "int8", scale=sc["ctx"])
        h1 = dram.add_buffer(f"L{i}.h1", m, h, act, scale=sc["h1"])
        ff = dram.add_buffer(f"L{i}.ffn", m, f, act, scale=sc["f"])
        out = dram.add_buffer(f"L{i}.out", m, h, act, role="output" if last else "activation",
                              scale=sc["out"])
        em.begin_layer(f"L{i}.qkv")
        lower_linear(em, cfg, [(x, c["wqkv"])], qkv, Epilogue("requant", params=c["p_qkv"]))
        em.begin_layer(f"L{i}.attention")
        lower_attention(em, cfg, qkv, ctx, c["attn_p"], mask, spans=spans, heads=g.heads,
                        head_blocks=q.head_blocks)
        em.begin_layer(f"L{i}.proj_ln")
        lower_linear(em, cfg, [(ctx, c["wo"])], h1,
                     Epilogue("resadd_ln", params=c["p_res1"], residual=x,
                              ln_header=c["ln1_hdr"], ln_params=c["ln1"]))
        planner[f"L{i}.ffn"] = lower_ffn(
            em, cfg, FfnTensors(h1, c["w1"], c["p_gelu"], ff, c["w2"], c["p_res2"],
                                c["ln2_hdr"], c["ln2"], out),
            keep=keep_intermediates, fuse=fuse_ffn,
            names=(f"L{i}.ffn", f"L{i}.ffn1_gelu", f"L{i}.ffn2_ln"),
            acc_out=lambda i=i: dram.add_buffer(f"L{i}.ffn2_acc", m, h, "int32"))
        x = out
        layer_outputs.append(out.name)
    head_meta = None
    if q.head is not None:
        hw = g.head
        head_meta = {"arch": hw.arch, "act": hw.act, "labels": hw.labels,
                     "problem_type": hw.problem_type,
                     "pre": lower_pooler(em, cfg, dram, q.head, head_consts, x, spans)}
    out_em = Emitter()
    moves = em.replay(out_em, cfg, prefetch=prefetch)
    instructions = out_em.finish()
    info = {
        "arch": g.arch, "hidden": h, "heads": g.heads, "ffn": f, "layers": len(q.layers),
        "batch": batch, "seq": seq, "lengths": lengths, "padded": padded, "rows": m,
        "tokens": sum(lengths), "pad_id": g.pad_id, "pos_offset": g.pos_offset,
        "vocab": int(g.word_emb.shape[0]), "layer_outputs": layer_outputs,
        "output": layer_outputs[-1], "layer_spans": out_em.layers,
        "macs": int(useful_macs(g, lengths)),
        "dram_floor": dram_floor(g, lengths, out_bytes=2 if q.wide else 1),
        "head": head_meta, "act_bits": q.act_bits, "planner": planner,
        "prefetch": {"loads": moves.moved, "relocated": moves.relocated,
                     "boundaries": moves.boundaries},
    }
    info.update(meta or {})
    return Program(config=cfg, instructions=instructions, dram_init=dram.image(),
                   dram_size=dram.size, tensors=dram.tensors, meta=info)


def useful_macs(g, lengths: list[int]) -> int:
    """MACs of the encoder layers on the real tokens only (linear layers + QK^T + PV per
    sequence on its own length): what a padded program spends on padding is not useful."""
    h, f = g.hidden, g.ffn
    tokens = sum(lengths)
    per_layer = tokens * (4 * h * h + 2 * h * f) + sum(2 * n * n * h for n in lengths)
    pooler = len(lengths) * h * h if g.head is not None else 0
    return len(g.layers) * per_layer + pooler


def dram_floor(g, lengths: list[int], out_bytes: int = 1) -> dict[str, int]:
    """The DRAM bytes any schedule of the model must move (sim/timing/roofline.py): every weight
    matrix (int8) and per-channel vector (biases, LayerNorm gamma and beta; int32) read once,
    the embeddings of the real tokens (int32, the host's gather) read once, the last hidden
    states (``out_bytes`` each: 1 int8, 2 16-bit) and the pooler output written once. Real
    sizes: no lane or head padding."""
    h, f = g.hidden, g.ffn
    tokens = sum(lengths)
    per_layer_w = 4 * h * h + 2 * h * f
    per_layer_v = (3 * h + h + f + h) + 2 * 2 * h
    read = len(g.layers) * (per_layer_w + 4 * per_layer_v) + 4 * 2 * h + 4 * tokens * h
    written = tokens * h * out_bytes
    if g.head is not None:
        read += h * h + 4 * h
        written += len(lengths) * h
    return {"read": int(read), "written": int(written)}
