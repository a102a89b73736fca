"""DRAM images as $readmemh / $writememh text: one bus word per line, most significant byte
first (the word at byte address a*W holds bytes a*W .. a*W+W-1, byte 0 in the low bits)."""

from __future__ import annotations

import binascii

import numpy as np


def write_hex(path, image: np.ndarray, bus_bytes: int) -> int:
    """Write the uint8 ``image`` (zero-padded to whole words); return the number of words."""
    words = -(-image.size // bus_bytes)
    padded = np.zeros(words * bus_bytes, dtype=np.uint8)
    padded[: image.size] = image
    rows = padded.reshape(words, bus_bytes)[:, ::-1]
    text = np.frombuffer(binascii.hexlify(rows.tobytes()), dtype=f"S{2 * bus_bytes}")
    with open(path, "wb") as f:
        f.write(b"\n".join(text.tolist()) + b"\n")
    return words


def read_hex(path, bus_bytes: int) -> np.ndarray:
    """The uint8 image of a $writememh file (comments, address marks and X/Z digits tolerated:
    an unknown digit reads as 0)."""
    with open(path, "rb") as f:
        lines = [ln.strip() for ln in f.read().splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith((b"//", b"@"))]
    width = 2 * bus_bytes
    if any(len(ln) != width for ln in lines):
        lines = [ln.rjust(width, b"0")[-width:] for ln in lines]
    blob = b"".join(lines).translate(bytes.maketrans(b"xXzZ", b"0000"))
    rows = np.frombuffer(binascii.unhexlify(blob), dtype=np.uint8).reshape(-1, bus_bytes)
    return np.ascontiguousarray(rows[:, ::-1]).reshape(-1)
