"""Tensor layout in DRAM and in the SRAMs.

A tensor of shape [rows, cols] is stored *blocked*: ceil(cols / DIM) column blocks, each holding
``rows`` rows of DIM elements (zero-padded past ``cols``). Blocks are contiguous, so block ``j``,
row ``i`` is element row ``j * rows + i``. The same layout holds in DRAM (byte address
``base + (j * rows + i) * DIM * esize``) and in a scratchpad / accumulator tile (row
``addr + j * rows + i``).
"""

from __future__ import annotations

import numpy as np


def nblocks(cols: int, dim: int) -> int:
    return -(-cols // dim)


def to_blocked(array: np.ndarray, dim: int) -> np.ndarray:
    """[rows, cols] -> [nblocks, rows, dim], zero-padded."""
    if array.ndim != 2:
        raise ValueError(f"expected a 2-D array, got shape {array.shape}")
    rows, cols = array.shape
    nb = nblocks(cols, dim)
    padded = np.zeros((rows, nb * dim), dtype=array.dtype)
    padded[:, :cols] = array
    return np.ascontiguousarray(padded.reshape(rows, nb, dim).transpose(1, 0, 2))


def from_blocked(blocked: np.ndarray, cols: int) -> np.ndarray:
    """[nblocks, rows, dim] -> [rows, cols]."""
    nb, rows, dim = blocked.shape
    return np.ascontiguousarray(blocked.transpose(1, 0, 2).reshape(rows, nb * dim)[:, :cols])
