"""Load-time checks of a program file's header: everything the header can contradict itself in.

A file is refused (isa.ProgramFileError naming the header field) when its ``config`` is not a
valid MachineConfig, ``dram_size`` does not hold the initialised prefix or exceeds the address
space, a tensor is malformed or lies outside ``dram_size``, or the ``meta`` fields the host side
uses (batch, seq, padded, lengths, vocab, pad_id, layer outputs, layer spans) are missing or
disagree with the tensors and the configuration. What only the instructions can contradict stays
a run-time error.

Row layout of a model program's activations (compiler/lower_model.py): padded, every sequence
takes ``seq`` rows; unpadded (``meta.padded`` false), the real tokens are packed, sequence k
taking ``lengths[k]`` rows. Its key mask has ceil(rows / DIM) rows of DIM flags per sequence.
"""

from __future__ import annotations

from .layout import nblocks
from .params import DRAM_ADDR_BITS, MachineConfig


class HeaderError(ValueError):
    """A header field that is missing or wrong; ``field`` names it (e.g. ``tensors[3].addr``)."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"header field {field!r} {problem}")
        self.field = field


def int_field(value, field: str, lo: int = 0, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise HeaderError(field, f"is {value!r}: expected an integer")
    if value < lo or (hi is not None and value > hi):
        rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise HeaderError(field, f"is {value}: expected {rng}")
    return value


def check_config(raw) -> MachineConfig:
    try:
        return MachineConfig.from_dict(raw)
    except (TypeError, ValueError) as e:
        raise HeaderError("config", f"is not a valid machine configuration: {e}") from None


def check_sizes(header: dict, payload_instr: int) -> tuple[int, int]:
    """(dram_size, dram_init_bytes), checked against each other and the address space."""
    init = int_field(header.get("dram_init_bytes"), "dram_init_bytes")
    size = int_field(header.get("dram_size"), "dram_size", 0, 1 << DRAM_ADDR_BITS)
    if init > size:
        raise HeaderError("dram_init_bytes", f"is {init}: the initialised DRAM prefix does not "
                          f"fit in dram_size={size}")
    return size, init


def check_tensors(raw, cfg: MachineConfig, dram_size: int, tensor_cls) -> dict:
    if not isinstance(raw, list):
        raise HeaderError("tensors", f"is {type(raw).__name__}: expected a list of tensors")
    out = {}
    for k, t in enumerate(raw):
        where = f"tensors[{k}]"
        if not isinstance(t, dict):
            raise HeaderError(where, f"is {t!r}: expected an object")
        name = t.get("name")
        if not isinstance(name, str) or not name:
            raise HeaderError(f"{where}.name", f"is {name!r}: expected a non-empty string")
        where = f"tensors[{k}] ({name})"
        if name in out:
            raise HeaderError(f"{where}.name", "repeats an earlier tensor's name")
        for f in ("rows", "cols"):
            int_field(t.get(f), f"{where}.{f}", 1)
        addr = int_field(t.get("addr"), f"{where}.addr")
        try:
            info = tensor_cls(**t)
        except (TypeError, ValueError) as e:
            raise HeaderError(where, f"is invalid: {e}") from None
        end = addr + nblocks(info.cols, cfg.dim) * info.rows * cfg.dim * info.esize
        if end > dram_size:
            raise HeaderError(f"{where}.addr", f"places bytes [{addr}, {end}) outside "
                              f"dram_size={dram_size}")
        out[name] = info
    return out


def _tensor(tensors: dict, field: str, name, role: str | None = None):
    if not isinstance(name, str) or name not in tensors:
        raise HeaderError(field, f"names tensor {name!r}, which the file does not have")
    t = tensors[name]
    if role is not None and t.role != role:
        raise HeaderError(field, f"names tensor {name!r} of role {t.role!r}: expected {role!r}")
    return t


def sequence_rows(meta: dict) -> list[int]:
    """Activation rows of each sequence of a model program whose batch and seq are checked:
    ``seq`` each when padded, ``meta.lengths`` when unpadded (checked here)."""
    b, t = meta["batch"], meta["seq"]
    padded = meta.get("padded", True)
    if not isinstance(padded, bool):
        raise HeaderError("meta.padded", f"is {padded!r}: expected true or false")
    lengths = meta.get("lengths")
    if padded and lengths is None:
        return [t] * b
    if not isinstance(lengths, list) or len(lengths) != b:
        raise HeaderError("meta.lengths", f"is {lengths!r}: expected a list of batch={b} "
                          "sequence lengths")
    for k, n in enumerate(lengths):
        int_field(n, f"meta.lengths[{k}]", 1, t)
    return [t] * b if padded else list(lengths)


def check_meta(meta, tensors: dict, cfg: MachineConfig, n_instructions: int) -> dict:
    """The meta fields the host side and the timing report read (model programs: ``arch``)."""
    if not isinstance(meta, dict):
        raise HeaderError("meta", f"is {type(meta).__name__}: expected an object")
    for f in ("batch", "seq"):
        if f in meta or "arch" in meta:
            int_field(meta.get(f), f"meta.{f}", 1)
    spans = meta.get("layer_spans")
    if spans is not None:
        if not isinstance(spans, list):
            raise HeaderError("meta.layer_spans", "is not a list")
        for k, s in enumerate(spans):
            if not isinstance(s, dict) or not isinstance(s.get("name"), str):
                raise HeaderError(f"meta.layer_spans[{k}]", f"is {s!r}: expected "
                                  "{name, start, end}")
            start = int_field(s.get("start"), f"meta.layer_spans[{k}].start", 0, n_instructions)
            int_field(s.get("end"), f"meta.layer_spans[{k}].end", start, n_instructions)
    if "arch" not in meta:
        return meta
    t = meta["seq"]
    if t > cfg.max_seq:
        raise HeaderError("meta.seq", f"is {t}: more than config.max_seq={cfg.max_seq} keys "
                          "the attention engine holds")
    if not isinstance(meta["arch"], str):
        raise HeaderError("meta.arch", f"is {meta['arch']!r}: expected a string")
    vocab = int_field(meta.get("vocab"), "meta.vocab", 1)
    int_field(meta.get("pad_id"), "meta.pad_id", 0, vocab - 1)
    outs = meta.get("layer_outputs")
    if not isinstance(outs, list) or not outs:
        raise HeaderError("meta.layer_outputs", f"is {outs!r}: expected a list of tensor names")
    seqs = sequence_rows(meta)
    rows = sum(seqs)
    what = (f"batch*seq={rows}" if meta.get("padded", True) else
            f"sum(meta.lengths)={rows} (unpadded)")
    if "rows" in meta and int_field(meta["rows"], "meta.rows", 1) != rows:
        raise HeaderError("meta.rows", f"is {meta['rows']}: expected {what}")
    hidden = None
    for k, name in enumerate(outs):
        o = _tensor(tensors, f"meta.layer_outputs[{k}]", name)
        if o.rows != rows or o.scale is None or (hidden is not None and o.cols != hidden):
            raise HeaderError(f"meta.layer_outputs[{k}]", f"names tensor {name!r} of "
                              f"{o.rows}x{o.cols}: expected {what} rows with a scale")
        hidden = o.cols
    emb = _tensor(tensors, "tensors input.emb", "input.emb", "input")
    if emb.rows != rows:
        raise HeaderError("meta.batch" if meta.get("padded", True) else "meta.lengths",
                          f"gives {what} rows, which disagree with tensor input.emb "
                          f"({emb.rows} rows)")
    mask = _tensor(tensors, "tensors input.mask", "input.mask", "input")
    kb = sum(-(-n // cfg.dim) for n in seqs)
    if mask.rows != kb or mask.cols != cfg.dim:
        raise HeaderError("meta.seq" if meta.get("padded", True) else "meta.lengths",
                          f"disagrees with tensor input.mask ({mask.rows}x{mask.cols}; "
                          f"expected {kb}x{cfg.dim}: ceil(rows/DIM) per sequence of {seqs})")
    word = _tensor(tensors, "tensors host.word_emb", "host.word_emb", "host")
    if word.rows != vocab:
        raise HeaderError("meta.vocab", f"is {vocab}: tensor host.word_emb has {word.rows} rows")
    pos = _tensor(tensors, "tensors host.pos_emb", "host.pos_emb", "host")
    for other in (word, pos, tensors.get("host.type_emb")):
        if other is not None and other.cols != emb.cols:
            raise HeaderError(f"tensors {other.name}", f"has {other.cols} columns: the "
                              f"embedding input input.emb has {emb.cols}")
    need = t + meta["pad_id"] + 1 if meta["arch"] == "roberta" else t
    if pos.rows < need:
        raise HeaderError("meta.seq", f"is {t}: tensor host.pos_emb has only {pos.rows} "
                          f"positions, {need} needed")
    return meta
