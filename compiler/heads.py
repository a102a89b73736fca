"""Sequence-classification heads: import, float reference, quantization and lowering.

BertForSequenceClassification (pooler dense + tanh on [CLS], classifier),
RobertaForSequenceClassification (classifier.dense + tanh on <s>, out_proj) and
DistilBertForSequenceClassification (pre_classifier + ReLU on [CLS], classifier) share one shape:
first token -> dense -> activation -> linear. Both linear layers run on the accelerator: the
encoder program ends with the gather of each sequence's first row and the pooler dense (int8
out, per-channel scale), the host applies the activation (the ISA has no tanh or ReLU), and a
second small program runs the classifier into int32 logits (docs/architecture.md "Task heads").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from isa import MachineConfig, Mem, Program, TensorInfo

from . import dma
from .dram import DramBuilder, plane_views
from .emitter import Emitter
from .lower_linear import Epilogue, lower_linear

#: Architectures (config.json "architectures") Encore compiles: bare encoders and these heads.
ENCODERS = ("BertModel", "RobertaModel", "DistilBertModel")
HEADS = ("BertForSequenceClassification", "RobertaForSequenceClassification",
         "DistilBertForSequenceClassification")
SUPPORTED_ARCHITECTURES = ENCODERS + HEADS
#: Headroom over the calibrated maximum of the head's int8 activations (observed on the first
#: token and every other token row of the calibration set).
HEAD_MARGIN = 1.25


def check_architecture(arch: str | None) -> None:
    if arch is not None and arch not in SUPPORTED_ARCHITECTURES:
        raise ValueError(f"unsupported architecture {arch!r}: Encore compiles bare encoders "
                         f"({', '.join(ENCODERS)}) and sequence classification heads "
                         f"({', '.join(HEADS)})")


@dataclass
class HeadWeights:
    """Float weights of a classification head, nn.Linear convention."""

    arch: str
    pool_w: np.ndarray
    pool_b: np.ndarray
    act: str  # tanh | relu
    cls_w: np.ndarray
    cls_b: np.ndarray
    labels: list[str] = field(default_factory=list)
    problem_type: str | None = None

    def forward(self, first: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(pre-activation, activation, logits) of first-token rows [B, H] (float64)."""
        pre = first @ self.pool_w.T + self.pool_b
        act = np.tanh(pre) if self.act == "tanh" else np.maximum(pre, 0.0)
        return pre, act, act @ self.cls_w.T + self.cls_b


def _np(t) -> np.ndarray:
    return t.detach().cpu().double().numpy()


def import_head(model) -> HeadWeights | None:
    """The head of a *ForSequenceClassification model (None for a bare encoder)."""
    name = type(model).__name__
    if name in ENCODERS:
        return None
    check_architecture(name)
    cfg = model.config
    labels = [str(cfg.id2label.get(i, f"LABEL_{i}")) for i in range(cfg.num_labels)]
    if name == "BertForSequenceClassification":
        pool, act, cls = model.bert.pooler.dense, "tanh", model.classifier
    elif name == "RobertaForSequenceClassification":
        pool, act, cls = model.classifier.dense, "tanh", model.classifier.out_proj
    else:
        pool, act, cls = model.pre_classifier, "relu", model.classifier
    return HeadWeights(name, _np(pool.weight), _np(pool.bias), act, _np(cls.weight),
                       _np(cls.bias), labels, getattr(cfg, "problem_type", None))


@dataclass
class QHead:
    """Integer constants of a head: pooler (input scale = the encoder output's per channel)."""

    w_pool: np.ndarray
    p_pool: np.ndarray  # [3, H] bias, m, s -> int8 at s_pre
    s_pre: np.ndarray
    s_act: np.ndarray  # int8 scale of the activation the host writes
    w_cls: np.ndarray
    b_cls: np.ndarray  # [1, C] int32 at acc_scale
    acc_scale: np.ndarray  # logits = int32 * acc_scale


def quantize_head(head: HeadWeights, rows: np.ndarray, s_in: np.ndarray, dim: int, *,
                  in_gain: float = 1.0) -> QHead:
    """Round-to-nearest int8 weights; activation scales from the maxima over calibration rows
    (float encoder outputs [n, H]); ``s_in`` is the encoder output's per-channel int8 scale.
    ``in_gain``: the encoder output is 16-bit at scale ``s_in * in_gain`` (the codes are the
    same, their scales follow)."""
    from .quantize import _chan_scale, bias_q, qmul, quant_weight

    pre, act, _ = head.forward(rows)
    w_pool, s_wp = quant_weight(head.pool_w * s_in[None, :], dim)
    s_wp = s_wp * in_gain
    s_pre = _chan_scale(np.abs(pre).max(axis=0) * HEAD_MARGIN, 1.0)
    m, s = qmul(s_wp / s_pre)
    p_pool = np.stack([bias_q(head.pool_b, s_wp), m, s])
    if head.act == "tanh":
        s_act = np.full(act.shape[1], 1.0 / 127.0)
    else:
        s_act = _chan_scale(np.abs(act).max(axis=0) * HEAD_MARGIN, 1.0)
    w_cls, s_wc = quant_weight(head.cls_w * s_act[None, :], dim)
    return QHead(w_pool, p_pool, s_pre, s_act, w_cls, bias_q(head.cls_b, s_wc)[None, :], s_wc)


def lower_pooler(em: Emitter, cfg: MachineConfig, dram: DramBuilder, qh: QHead,
                 consts: dict[str, TensorInfo], out: TensorInfo,
                 spans: list[tuple[int, int, int]]) -> str:
    """Gather each sequence's first row of ``out`` into ``head.first`` and run the pooler dense
    (requant to int8); returns the name of the pooled tensor (the program's head output).
    A 16-bit ``out`` is gathered plane by plane into a 16-bit ``head.first``."""
    d = cfg.dim
    b = len(spans)
    nb = -(-out.cols // d)
    first = dram.add_buffer("head.first", b, out.cols, out.dtype, scale=out.scale)
    pooled = dram.add_buffer("head.pre", b, qh.w_pool.shape[1], "int8", role="output",
                             scale=qh.s_pre)
    em.begin_layer("head.pooler")
    base = 0
    for k, (src, dst) in enumerate(zip(plane_views(out, d), plane_views(first, d), strict=True)):
        tile = base + k * nb * b
        for i, (row0, _, _) in enumerate(spans):
            for j in range(nb):
                dma.load(em, d, src, Mem.SP, tile + j * b + i, row0=row0, rows=1, block0=j)
        dma.store(em, d, dst, Mem.SP, tile, rows=b, blocks=nb)
    lower_linear(em, cfg, [(first, consts["w_pool"])], pooled,
                 Epilogue("requant", params=consts["p_pool"]))
    return pooled.name


def add_pooler_consts(dram: DramBuilder, qh: QHead) -> dict[str, TensorInfo]:
    return {"w_pool": dram.add_const("head.w_pool", qh.w_pool, "int8"),
            "p_pool": dram.add_const("head.p_pool", qh.p_pool, "int32")}


def classifier_program(qh: QHead, cfg: MachineConfig, batch: int, meta: dict) -> Program:
    """The second program: int8 activations [B, H] (written by the host) -> int32 logits."""
    dram = DramBuilder(cfg)
    w = dram.add_const("head.w_cls", qh.w_cls, "int8")
    bias = dram.add_const("head.b_cls", qh.b_cls, "int32")
    x = dram.add_buffer("head.act", batch, qh.w_pool.shape[1], "int8", role="input",
                        scale=qh.s_act)
    logits = dram.add_buffer("head.logits", batch, qh.w_cls.shape[1], "int32", role="output",
                             scale=qh.acc_scale)
    em = Emitter()
    em.begin_layer("head.classifier")
    lower_linear(em, cfg, [(x, w)], logits, Epilogue("acc32", bias=bias))
    return Program(config=cfg, instructions=em.finish(), dram_init=dram.image(),
                   dram_size=dram.size, tensors=dram.tensors,
                   meta={**meta, "batch": batch, "output": "head.logits",
                         "macs": int(batch * qh.w_pool.shape[1] * qh.w_cls.shape[1])})
