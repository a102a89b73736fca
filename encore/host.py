"""The host side of a run: tokens -> accelerator inputs, and accelerator outputs -> floats.

The embedding gather (word + position + token type) runs here, in integers, from the host tables
the compiler put in the program; everything from the first LayerNorm on runs on the accelerator.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from isa import Program


def _check_shape(program: Program, mask: np.ndarray) -> None:
    meta = program.meta
    b, t = mask.shape
    if meta.get("padded", True):
        if (b, t) != (meta["batch"], meta["seq"]):
            raise ValueError(f"input ids have shape {(b, t)}; the program was compiled for batch "
                             f"{meta['batch']} x seq {meta['seq']}")
        return
    lengths = [int(n) for n in mask.sum(axis=1)]
    if lengths != list(meta["lengths"]):
        raise ValueError(f"input lengths {lengths} differ from the lengths "
                         f"{meta['lengths']} the unpadded program was compiled for")
    if not np.all(mask == (np.arange(t)[None, :] < np.asarray(lengths)[:, None])):
        raise ValueError("an unpadded program needs right-padded inputs: every attention mask "
                         "row must be ones then zeros")


def packed_rows(program: Program, mask: np.ndarray) -> np.ndarray:
    """Bool [B, T]: the (b, t) slots that have a row in the program's activations (all of them
    when padded, the real tokens when unpadded), in the program's row order."""
    if program.meta.get("padded", True):
        return np.ones(mask.shape, dtype=bool)
    return np.asarray(mask) != 0


def embedding_input(program: Program, dram: np.ndarray | None, ids: np.ndarray,
                    mask: np.ndarray | None = None) -> np.ndarray:
    """int32 [rows, H] embedding sums at the program's embedding scale (packed if unpadded)."""
    meta = program.meta
    mask = np.ones(ids.shape, dtype=np.int64) if mask is None else mask
    _check_shape(program, mask)
    b, t = ids.shape
    if ids.min() < 0 or ids.max() >= meta["vocab"]:
        raise ValueError(f"token ids must lie in [0, {meta['vocab']}), got "
                         f"[{ids.min()}, {ids.max()}]")
    # The embedding tables are constants: read them from the image without building a DRAM,
    # and widen only the rows the ids pick.
    src = dram if dram is not None else np.frombuffer(program.dram_init, dtype=np.uint8)
    if meta["arch"] == "roberta":
        keep = (ids != meta["pad_id"]).astype(np.int64)
        positions = np.cumsum(keep, axis=1) * keep + meta["pad_id"]
    else:
        positions = np.broadcast_to(np.arange(t), (b, t))
    e = (program.read_tensor_rows(src, "host.word_emb", ids).astype(np.int64)
         + program.read_tensor_rows(src, "host.pos_emb", positions).astype(np.int64))
    if "host.type_emb" in program.tensors:
        e = e + program.read_tensor(src, "host.type_emb").astype(np.int64)[0]
    return e[packed_rows(program, mask)]


def mask_input(program: Program, mask: np.ndarray) -> np.ndarray:
    """The key-mask tensor: per sequence, ceil(T/DIM) rows of DIM int32 flags (T: the padded
    length, or the sequence's own length when unpadded)."""
    d = program.config.dim
    b, t = mask.shape
    if not program.meta.get("padded", True):
        rows = []
        for n in program.meta["lengths"]:
            kb = -(-n // d)
            flags = np.zeros(kb * d, dtype=np.int64)
            flags[:n] = 1
            rows.append(flags.reshape(kb, d))
        return np.concatenate(rows)
    kb = -(-t // d)
    flags = np.zeros((b, kb * d), dtype=np.int64)
    flags[:, :t] = mask != 0
    return flags.reshape(b * kb, d)


def prepare_inputs(program: Program, ids: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
    ids = np.asarray(ids, dtype=np.int64)
    mask = np.asarray(mask, dtype=np.int64)
    if ids.shape != mask.shape:
        raise ValueError(f"ids {ids.shape} and attention mask {mask.shape} differ in shape")
    if not np.all(mask.sum(axis=1) >= 1):
        raise ValueError("every sequence needs at least one unmasked token")
    return {"input.emb": embedding_input(program, None, ids, mask),
            "input.mask": mask_input(program, mask)}


def dequantize(program: Program, dram: np.ndarray, name: str,
               mask: np.ndarray | None = None) -> np.ndarray:
    """Float32 [B, T, cols] of an int8 activation tensor (unpadded programs: scattered back to
    the slots of ``mask``, zeros elsewhere)."""
    t = program.tensor(name)
    if t.scale is None:
        raise ValueError(f"tensor {name} has no scale")
    meta = program.meta
    vals = program.read_tensor(dram, name).astype(np.float32) * np.asarray(t.scale, np.float32)
    if meta.get("padded", True):
        return vals.reshape(meta["batch"], meta["seq"], t.cols)
    if mask is None:
        raise ValueError("dequantizing an unpadded program's activations needs the mask")
    out = np.zeros((*mask.shape, t.cols), dtype=np.float32)
    out[np.asarray(mask) != 0] = vals
    return out


def run_functional(program: Program, ids: np.ndarray, mask: np.ndarray,
                   progress: Callable[[int], None] | None = None):
    """Run on the functional simulator; returns (sim, stats, layer outputs float32 list)."""
    from sim import FunctionalSim

    inputs = prepare_inputs(program, ids, mask)
    sim = FunctionalSim(program)
    for name, value in inputs.items():
        program.write_tensor(sim.dram, name, value)
    stats = sim.run(progress=progress)
    layers = [dequantize(program, sim.dram, n, mask) for n in program.meta["layer_outputs"]]
    return sim, stats, layers


def tokenize(tokenizer, texts: list[str], seq: int) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and attention mask [len(texts), seq] (padded, never truncated silently)."""
    if not texts:
        raise ValueError("no input text given")
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"input text {i} is empty: every --text needs at least one word")
    enc = tokenizer(list(texts), padding="max_length", truncation=False, max_length=seq,
                    return_tensors=None)
    ids, masks = [], []
    for i, row in enumerate(enc["input_ids"]):
        if len(row) > seq:
            raise ValueError(f"input text {i} is {len(row)} tokens long, more than --seq {seq}: "
                             f"raise --seq (up to the model's positions) or shorten the text")
        ids.append(row)
        masks.append(enc["attention_mask"][i])
    return np.array(ids, dtype=np.int64), np.array(masks, dtype=np.int64)


def run_head(program: Program, dram: np.ndarray, head_program: Program) -> np.ndarray:
    """The task head after the encoder: the host applies the activation (tanh or ReLU; the ISA
    has neither) to the pooler's int8 output, then the classifier program runs on the
    functional simulator. Returns float64 logits [B, labels]."""
    from sim import FunctionalSim

    head = program.meta["head"]
    pre_t = program.tensor(head["pre"])
    pre = program.read_tensor(dram, pre_t.name).astype(np.float64) * np.asarray(pre_t.scale)
    act = np.tanh(pre) if head["act"] == "tanh" else np.maximum(pre, 0.0)
    s_act = np.asarray(head_program.tensor("head.act").scale)
    sim = FunctionalSim(head_program)
    head_program.write_tensor(sim.dram, "head.act",
                              np.clip(np.round(act / s_act), -127, 127).astype(np.int64))
    sim.run()
    out = head_program.tensor("head.logits")
    return head_program.read_tensor(sim.dram, out.name).astype(np.float64) * np.asarray(out.scale)
