"""Amaranth layouts of the instruction word, generated from ``isa.fields.LAYOUT``.

The bit positions exist once, in ``isa/fields.py``; this module only turns that table into
``data.StructLayout`` objects so the RTL can read fields by name (``View(layout, word).rows``).
Gaps in the table (none today) become padding members, and every layout is exactly
``INSTR_BITS`` wide, so any opcode's view can be laid over the same 128-bit word.
"""

from __future__ import annotations

from functools import cache

from amaranth.hdl import unsigned
from amaranth.lib import data

from isa import INSTR_BITS, LAYOUT, Opcode
from isa.fields import HEADER


def _struct(fields: dict[str, tuple[int, int]]) -> data.StructLayout:
    members: dict = {}
    pos = 0
    for name, (lsb, width) in sorted(fields.items(), key=lambda kv: kv[1][0]):
        if lsb < pos:
            raise ValueError(f"field {name!r} at bit {lsb} overlaps the previous field "
                             f"(ends at {pos})")
        if lsb > pos:
            members[f"_pad{pos}"] = unsigned(lsb - pos)
        members[name] = unsigned(width)  # fields compare against isa members (Opcode.GEMM)
        pos = lsb + width
    if pos > INSTR_BITS:
        raise ValueError(f"fields end at bit {pos}, past the {INSTR_BITS}-bit instruction word")
    if pos < INSTR_BITS:
        members["_unused"] = unsigned(INSTR_BITS - pos)
    layout = data.StructLayout(members)
    for name, (lsb, width) in fields.items():  # the generated layout must match the table exactly
        field = layout[name]
        assert field.offset == lsb and field.width == width, (name, field, lsb, width)
    return layout


@cache
def instr_layout(op: Opcode) -> data.StructLayout:
    """The 128-bit layout of one opcode's instruction word (header + fields + ``_unused``)."""
    return _struct(LAYOUT[Opcode(op)])


@cache
def header_layout() -> data.StructLayout:
    """The header every instruction shares: opcode and the four dependency flags."""
    fields, pos = {}, 0
    for name, width in HEADER:
        fields[name] = (pos, width)
        pos += width
    return _struct(fields)


def used_bits(op: Opcode) -> int:
    """Number of low bits ``op`` uses; bits above must be zero (else BAD_FIELD)."""
    return max(lsb + width for lsb, width in LAYOUT[Opcode(op)].values())
