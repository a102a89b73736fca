"""Instructions: construction with range checks, and encode / decode through isa.fields."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .fields import DEP_FLAGS, FIELDS, INSTR_BITS, INSTR_BYTES, LAYOUT
from .opcodes import ErrorCode, Opcode, Queue, queue_of


class DecodeError(ValueError):
    """An instruction word that is not a valid instruction; ``code`` is the ErrorCode."""

    def __init__(self, message: str, code: ErrorCode, index: int | None = None,
                 word: int | None = None):
        super().__init__(message)
        self.code = code
        self.index = index  #: position in the instruction stream (decode_program)
        self.word = word  #: the raw instruction word
        self.detail = message


class Instruction:
    """One instruction: an opcode, dependency flags and the opcode's fields (all ints).

    ``Instruction(Opcode.LOAD, mem=0, sram_addr=0, rows=4, cols=16, dram_addr=0, dram_stride=16)``
    Unnamed fields default to 0. Values are checked against the field widths at once.
    """

    __slots__ = ("op", "f")

    def __init__(self, op: Opcode, **fields: int):
        try:
            op = Opcode(op)
        except ValueError:
            raise ValueError(
                f"unknown opcode {op!r}: expected one of {[o.name for o in Opcode]}"
            ) from None
        layout = LAYOUT[op]
        values = {name: 0 for name in layout if name != "opcode"}
        for name, value in fields.items():
            if name not in values:
                raise ValueError(
                    f"{op.name} has no field {name!r}: expected some of {sorted(values)}"
                )
            if isinstance(value, (bool, np.bool_)):
                value = int(value)
            if not isinstance(value, (int, np.integer)):
                raise TypeError(f"{op.name}.{name} must be an int, not {value!r}")
            width = layout[name][1]
            if not 0 <= int(value) < (1 << width):
                raise ValueError(
                    f"{op.name}.{name}={int(value)} does not fit its {width}-bit field "
                    f"(expected 0..{(1 << width) - 1})"
                )
            values[name] = int(value)
        self.op = op
        self.f = values

    def __getattr__(self, name: str) -> int:
        try:
            return self.f[name]
        except KeyError:
            raise AttributeError(f"{self.op.name} has no field {name!r}") from None

    @property
    def queue(self) -> Queue:
        return queue_of(self.op)

    def with_deps(self, **flags: int) -> Instruction:
        """A copy with some dependency flags set."""
        return Instruction(self.op, **{**self.f, **flags})

    def encode(self) -> int:
        word = int(self.op)
        layout = LAYOUT[self.op]
        for name, value in self.f.items():
            word |= value << layout[name][0]
        return word

    @classmethod
    def decode(cls, word: int) -> Instruction:
        if not 0 <= word < (1 << INSTR_BITS):
            raise DecodeError(f"instruction word {word:#x} exceeds {INSTR_BITS} bits",
                              ErrorCode.BAD_FIELD)
        raw = word & 0x1F
        spec = _DECODE.get(raw)
        if spec is None:
            raise DecodeError(f"illegal opcode {raw}: expected one of "
                              f"{', '.join(f'{o.value} {o.name}' for o in Opcode)}",
                              ErrorCode.ILLEGAL_OPCODE)
        op, fields, used = spec
        if word >> used:
            raise DecodeError(f"{op.name}: unused bits [{INSTR_BITS - 1}:{used}] are not zero",
                              ErrorCode.BAD_FIELD)
        # Every field is cut to its width, so the range checks of __init__ hold by construction.
        ins = object.__new__(cls)
        ins.op = op
        ins.f = {name: (word >> lsb) & mask for name, lsb, mask in fields}
        return ins

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Instruction) and self.op == other.op and self.f == other.f

    def __hash__(self) -> int:
        return hash((self.op, tuple(sorted(self.f.items()))))

    def __repr__(self) -> str:
        deps = "".join(f" {d}" for d in DEP_FLAGS if self.f[d])
        body = ", ".join(f"{k}={v}" for k, v in self.f.items() if k not in DEP_FLAGS)
        return f"{self.op.name}({body}){deps}"


#: opcode value -> (Opcode, ((field, lsb, mask), ...) in layout order, bits used).
_DECODE = {
    int(op): (op,
              tuple((n, lsb, (1 << w) - 1) for n, (lsb, w) in LAYOUT[op].items() if n != "opcode"),
              max(lsb + w for lsb, w in LAYOUT[op].values()))
    for op in Opcode
}


def encode_program(instructions: Iterable[Instruction]) -> bytes:
    """Concatenated little-endian 16-byte instruction words."""
    return b"".join(i.encode().to_bytes(INSTR_BYTES, "little") for i in instructions)


def decode_word(data: bytes, index: int) -> Instruction:
    off = index * INSTR_BYTES
    return Instruction.decode(int.from_bytes(data[off : off + INSTR_BYTES], "little"))


def decode_program(data: bytes) -> list[Instruction]:
    """Decode a whole instruction stream (raises DecodeError naming the bad index)."""
    if len(data) % INSTR_BYTES:
        raise DecodeError(
            f"instruction stream of {len(data)} bytes is not a multiple of {INSTR_BYTES}",
            ErrorCode.BAD_FIELD,
        )
    out = []
    for i in range(len(data) // INSTR_BYTES):
        try:
            out.append(decode_word(data, i))
        except DecodeError as e:
            word = int.from_bytes(data[i * INSTR_BYTES : (i + 1) * INSTR_BYTES], "little")
            err = DecodeError(f"instruction {i}: {e}", e.code, i, word)
            err.detail = str(e)
            raise err from None
    return out


__all__ = ["FIELDS", "DecodeError", "Instruction", "decode_program", "encode_program"]
