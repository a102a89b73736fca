"""Program files altered the way a broken tool or a bad disk would alter them, re-checksummed so
they pass the container check (used by the fuzz and CLI tests)."""

from __future__ import annotations

import hashlib
import json
import struct

from isa import INSTR_BYTES
from isa.program import MAGIC

_FIXED = len(MAGIC) + 12


def split(data: bytes) -> tuple[int, dict, bytes]:
    """(format version, header dict, payload) of a well-formed program file."""
    version, hlen = struct.unpack("<IQ", data[len(MAGIC) : _FIXED])
    return version, json.loads(data[_FIXED : _FIXED + hlen]), data[_FIXED + hlen :]


def join(version: int, header: dict, payload: bytes, rehash: bool = True) -> bytes:
    if rehash:
        header = {**header, "sha256": hashlib.sha256(payload).hexdigest()}
    h = json.dumps(header).encode()
    return MAGIC + struct.pack("<IQ", version, len(h)) + h + payload


def with_word(data: bytes, index: int, word: int) -> bytes:
    """The file with instruction ``index`` replaced by ``word`` (128-bit int), re-checksummed."""
    version, header, payload = split(data)
    off = index * INSTR_BYTES
    new = payload[:off] + word.to_bytes(INSTR_BYTES, "little") + payload[off + INSTR_BYTES :]
    return join(version, header, new)


def word_at(data: bytes, index: int) -> int:
    _, _, payload = split(data)
    return int.from_bytes(payload[index * INSTR_BYTES : (index + 1) * INSTR_BYTES], "little")


def with_header(data: bytes, path: tuple, value) -> bytes:
    """The file with header[path...] = value (a missing last key is added), re-checksummed."""
    version, header, payload = split(data)
    node = header
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return join(version, header, payload)
