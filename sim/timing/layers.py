"""Which instructions belong to which layer: the ``layer_spans`` entry of ``Program.meta``.

Accepted form (written by the compiler)::

    program.meta["layer_spans"] = [
        {"name": "layer0.attn.qkv", "start": 0, "end": 412},    # instruction indices [start, end)
        {"name": "layer0.attn.core", "start": 412, "end": 530},
        ...
    ]

Ranges must be in program order and must not overlap; gaps are allowed. Instructions outside
every range are grouped as ``OTHER``. Without a ``layer_spans`` entry the whole program is one layer
named ``WHOLE``.
"""

from __future__ import annotations

from dataclasses import dataclass

OTHER = "(other)"
WHOLE = "(program)"
#: The Program.meta key that holds the spans (written by compiler.emitter.Emitter).
KEY = "layer_spans"


@dataclass(frozen=True)
class LayerRange:
    name: str
    start: int
    end: int


def layer_ranges(meta: dict, n_instructions: int) -> list[LayerRange]:
    """A partition of ``range(n_instructions)`` into named, contiguous ranges in program order.

    Raises ValueError naming the bad entry if ``meta["layer_spans"]`` is malformed.
    """
    spec = meta.get(KEY) if isinstance(meta, dict) else None
    if spec is None:
        return [LayerRange(WHOLE, 0, n_instructions)] if n_instructions else []
    if not isinstance(spec, list):
        raise ValueError(
            f"program.meta['layer_spans'] must be a list of {{name, start, end}} dicts, "
            f"not {type(spec).__name__}"
        )
    out: list[LayerRange] = []
    pos = 0
    for k, entry in enumerate(spec):
        try:
            name, start, end = str(entry["name"]), int(entry["start"]), int(entry["end"])
        except (TypeError, KeyError, ValueError):
            raise ValueError(
                f"program.meta['layer_spans'][{k}] = {entry!r} is invalid: expected a dict with "
                "'name' (str), 'start' and 'end' (instruction indices, end exclusive)"
            ) from None
        if not pos <= start <= end <= n_instructions:
            raise ValueError(
                f"program.meta['layer_spans'][{k}] ({name!r}) covers instructions "
                f"[{start}, {end}): "
                f"expected {pos} <= start <= end <= {n_instructions} (ranges in program order, "
                "not overlapping)"
            )
        if start > pos:
            out.append(LayerRange(OTHER, pos, start))
        if end > start:
            out.append(LayerRange(name, start, end))
        pos = end
    if pos < n_instructions:
        out.append(LayerRange(OTHER, pos, n_instructions))
    return out
