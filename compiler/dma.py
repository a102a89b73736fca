"""Emitting DMA transfers of blocked tensor tiles (splitting at the 16-bit row-count limit)."""

from __future__ import annotations

from isa import Mem, Opcode, TensorInfo

from .dram import block_addr
from .emitter import ACC, DRAM, SP, Emitter

MAX_ROWS = (1 << 16) - 1


def _dram_range(t: TensorInfo, dim: int) -> tuple[str, int, int]:
    return (DRAM, t.addr, t.addr + t.nbytes(dim))


def _transfer(em: Emitter, op: Opcode, dim: int, t: TensorInfo, mem: Mem, sram: int,
              row0: int, rows: int, block0: int, blocks: int, stride_rows: int | None) -> None:
    space = SP if mem == Mem.SP else ACC
    sram_range = (space, sram, sram + rows * blocks)
    row_bytes = dim * t.esize
    if stride_rows == 0:  # broadcast one DRAM row into `rows` SRAM rows, per block
        pieces = [(block_addr(t, dim, block0 + j, row0), sram + j * rows, rows, 0)
                  for j in range(blocks)]
    elif row0 == 0 and rows == t.rows:  # whole blocks: contiguous in DRAM and SRAM
        total = rows * blocks
        base = block_addr(t, dim, block0)
        pieces = [(base + s * row_bytes, sram + s, min(MAX_ROWS, total - s), row_bytes)
                  for s in range(0, total, MAX_ROWS)]
    else:
        pieces = []
        for j in range(blocks):
            for s in range(0, rows, MAX_ROWS):
                pieces.append((block_addr(t, dim, block0 + j, row0 + s), sram + j * rows + s,
                               min(MAX_ROWS, rows - s), row_bytes))
    for dram_addr, sram_addr, n, stride in pieces:
        fields = dict(mem=int(mem), sram_addr=sram_addr, rows=n, cols=dim, dram_addr=dram_addr,
                      dram_stride=stride)
        if op == Opcode.LOAD:
            em.emit(op, reads=(_dram_range(t, dim),), writes=(sram_range,), **fields)
        else:
            em.emit(op, reads=(sram_range,), writes=(_dram_range(t, dim),), **fields)


def load(em: Emitter, dim: int, t: TensorInfo, mem: Mem, sram: int, *, row0: int = 0,
         rows: int | None = None, block0: int = 0, blocks: int = 1,
         broadcast: bool = False) -> None:
    """Load blocks [block0, block0+blocks) x rows [row0, row0+rows) of ``t`` into an SRAM tile
    (block j, row i at ``sram + j*rows + i``). ``broadcast`` repeats DRAM row ``row0``."""
    rows = t.rows - row0 if rows is None else rows
    _transfer(em, Opcode.LOAD, dim, t, mem, sram, row0, rows, block0, blocks,
              0 if broadcast else None)


def store(em: Emitter, dim: int, t: TensorInfo, mem: Mem, sram: int, *, row0: int = 0,
          rows: int | None = None, block0: int = 0, blocks: int = 1) -> None:
    """Store an SRAM tile into blocks [block0, ...) x rows [row0, ...) of ``t``."""
    rows = t.rows - row0 if rows is None else rows
    _transfer(em, Opcode.STORE, dim, t, mem, sram, row0, rows, block0, blocks, None)
