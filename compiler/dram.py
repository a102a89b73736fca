"""DRAM image builder: constants first (the initialised prefix), then zeroed buffers."""

from __future__ import annotations

import numpy as np

from isa import MachineConfig, TensorInfo
from isa.layout import nblocks, to_blocked
from isa.program import DTYPES

ALIGN = 64  # bytes; one AXI burst boundary for every tensor


def _align(x: int) -> int:
    return -(-x // ALIGN) * ALIGN


class DramBuilder:
    """Places tensors in DRAM. Add every constant before the first buffer."""

    def __init__(self, config: MachineConfig):
        self.config = config
        self.tensors: dict[str, TensorInfo] = {}
        self._chunks: list[tuple[int, bytes]] = []
        self._end = 0
        self._frozen = False

    def _new(self, name: str, rows: int, cols: int, dtype: str, role: str,
             scale) -> TensorInfo:
        if name in self.tensors:
            raise ValueError(f"tensor {name!r} is defined twice")
        if rows < 1 or cols < 1:
            raise ValueError(f"tensor {name!r} has an empty shape ({rows}, {cols})")
        info = TensorInfo(name=name, addr=self._end, rows=rows, cols=cols, dtype=dtype, role=role,
                          scale=scale)
        self._end = _align(self._end + info.nbytes(self.config.dim))
        self.tensors[name] = info
        return info

    def add_const(self, name: str, array: np.ndarray, dtype: str,
                  scale: float | None = None) -> TensorInfo:
        """A constant [rows, cols] integer tensor, stored blocked in the initialised image."""
        if self._frozen:
            raise RuntimeError("constants must all be added before the first buffer")
        if dtype not in ("int8", "int32"):
            raise ValueError(f"constant {name!r}: dtype {dtype!r} is not int8 or int32")
        array = np.asarray(array)
        if array.ndim == 1:
            array = array[None, :]
        lo, hi = np.iinfo(DTYPES[dtype]).min, np.iinfo(DTYPES[dtype]).max
        if array.size and (array.min() < lo or array.max() > hi):
            raise ValueError(f"constant {name!r} does not fit {dtype}")
        info = self._new(name, array.shape[0], array.shape[1], dtype, "const", scale)
        blocked = to_blocked(array.astype(DTYPES[dtype]), self.config.dim)
        raw = blocked.astype(np.dtype(DTYPES[dtype]).newbyteorder("<")).tobytes()
        self._chunks.append((info.addr, raw))
        return info

    def add_buffer(self, name: str, rows: int, cols: int, dtype: str, role: str = "activation",
                   scale: float | None = None) -> TensorInfo:
        """A zero-initialised tensor (input, activation or output)."""
        self._frozen = True
        return self._new(name, rows, cols, dtype, role, scale)

    @property
    def size(self) -> int:
        return max(self._end, ALIGN)

    def image(self) -> bytes:
        """The initialised prefix: every constant in place."""
        end = max((a + len(r) for a, r in self._chunks), default=0)
        buf = bytearray(end)
        for addr, raw in self._chunks:
            buf[addr : addr + len(raw)] = raw
        return bytes(buf)


def block_addr(t: TensorInfo, dim: int, block: int, row: int = 0) -> int:
    """DRAM byte address of (block, row) of a blocked tensor."""
    return t.addr + (block * t.rows + row) * dim * t.esize


def tensor_blocks(t: TensorInfo, dim: int) -> int:
    return nblocks(t.cols, dim)


def plane_views(t: TensorInfo, dim: int) -> list[TensorInfo]:
    """The int8 tensors a DMA moves of ``t``: ``[t]`` itself, or for a planar 16-bit tensor its
    high plane then its low plane (docs/isa.md "16-bit tiles"), each an int8 blocked tensor."""
    if t.planes == 1:
        return [t]
    step = t.plane_bytes(dim)
    return [TensorInfo(name=f"{t.name}.{part}", addr=t.addr + k * step, rows=t.rows, cols=t.cols,
                       dtype="int8", role=t.role) for k, part in enumerate(("hi", "lo"))]
