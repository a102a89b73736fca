"""The host side of a run: tokens -> accelerator inputs, and accelerator outputs -> floats.

The embedding gather (word + position + token type) runs here, in integers, from the host tables
the compiler put in the program; everything from the first LayerNorm on runs on the accelerator.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from isa import Program


def embedding_input(program: Program, dram: np.ndarray | None, ids: np.ndarray) -> np.ndarray:
    """int32 [B*T, H] embedding sums at the program's embedding scale."""
    meta = program.meta
    b, t = ids.shape
    if (b, t) != (meta["batch"], meta["seq"]):
        raise ValueError(f"input ids have shape {(b, t)}; the program was compiled for batch "
                         f"{meta['batch']} x seq {meta['seq']}")
    if ids.min() < 0 or ids.max() >= meta["vocab"]:
        raise ValueError(f"token ids must lie in [0, {meta['vocab']}), got "
                         f"[{ids.min()}, {ids.max()}]")
    # The embedding tables are constants: read them from the image without building a DRAM,
    # and widen only the rows the ids pick.
    src = dram if dram is not None else np.frombuffer(program.dram_init, dtype=np.uint8)
    word = program.read_tensor(src, "host.word_emb")
    pos = program.read_tensor(src, "host.pos_emb")
    if meta["arch"] == "roberta":
        keep = (ids != meta["pad_id"]).astype(np.int64)
        positions = np.cumsum(keep, axis=1) * keep + meta["pad_id"]
    else:
        positions = np.broadcast_to(np.arange(t), (b, t))
    e = word[ids].astype(np.int64) + pos[positions].astype(np.int64)
    if "host.type_emb" in program.tensors:
        e = e + program.read_tensor(src, "host.type_emb").astype(np.int64)[0]
    return e.reshape(b * t, -1)


def mask_input(program: Program, mask: np.ndarray) -> np.ndarray:
    """The key-mask tensor: per sequence, ceil(T/DIM) rows of DIM int32 flags."""
    d = program.config.dim
    b, t = mask.shape
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
    return {"input.emb": embedding_input(program, None, ids), "input.mask": mask_input(program, mask)}


def dequantize(program: Program, dram: np.ndarray, name: str) -> np.ndarray:
    """Float32 [B, T, cols] of an int8 activation tensor."""
    t = program.tensor(name)
    if t.scale is None:
        raise ValueError(f"tensor {name} has no scale")
    meta = program.meta
    vals = program.read_tensor(dram, name).astype(np.float32) * np.asarray(t.scale, np.float32)
    return vals.reshape(meta["batch"], meta["seq"], t.cols)


def run_functional(program: Program, ids: np.ndarray, mask: np.ndarray,
                   progress: Callable[[int], None] | None = None):
    """Run on the functional simulator; returns (sim, stats, layer outputs float32 list)."""
    from sim import FunctionalSim

    inputs = prepare_inputs(program, ids, mask)
    sim = FunctionalSim(program)
    for name, value in inputs.items():
        program.write_tensor(sim.dram, name, value)
    stats = sim.run(progress=progress)
    layers = [dequantize(program, sim.dram, n) for n in program.meta["layer_outputs"]]
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
