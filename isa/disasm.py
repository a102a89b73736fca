"""Readable text of instructions, for error messages and listings.

    >>> format_instruction(Instruction(Opcode.LOAD, rows=4, cols=16, dram_addr=256, pop_next=1))
    'LOAD mem=SP sram_addr=0 rows=4 cols=16 dram_addr=0x100 dram_stride=0 [pop_next]'

Fields print in the order of isa/fields.py; DRAM addresses in hex; dependency flags that are set
follow in brackets. A word that does not decode prints as its hex value and the reason.
"""

from __future__ import annotations

from .fields import DEP_FLAGS, INSTR_BYTES
from .instructions import DecodeError, Instruction
from .opcodes import Mem, Opcode

_HEX = ("dram_addr",)


def format_instruction(ins: Instruction) -> str:
    """``OPCODE field=value ... [flags]`` for one decoded instruction."""
    parts = [ins.op.name]
    for name, value in ins.f.items():
        if name in DEP_FLAGS:
            continue
        if name == "mem" and ins.op in (Opcode.LOAD, Opcode.STORE):
            text = Mem(value).name
        elif name in _HEX:
            text = f"{value:#x}"
        else:
            text = str(value)
        parts.append(f"{name}={text}")
    flags = [d for d in DEP_FLAGS if ins.f[d]]
    if flags:
        parts.append(f"[{' '.join(flags)}]")
    return " ".join(parts)


def format_word(word: int | bytes) -> str:
    """A raw instruction word (int or 16 little-endian bytes): decoded, or why it does not."""
    if isinstance(word, (bytes, bytearray, memoryview)):
        word = int.from_bytes(bytes(word)[:INSTR_BYTES], "little")
    try:
        return format_instruction(Instruction.decode(word))
    except DecodeError as e:
        return f"word {word:#034x} ({e})"
