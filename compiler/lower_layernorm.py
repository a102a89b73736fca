"""Lowering of a standalone LayerNorm (the embedding LayerNorm): int32 in DRAM -> int8, or a
16-bit planar output (two LAYERNORM instructions, plane HIGH then LOW, docs/isa.md)."""

from __future__ import annotations

from isa import MachineConfig, Mem, Opcode, Plane, TensorInfo
from isa.layout import nblocks

from . import dma
from .dram import plane_views
from .emitter import ACC, SP, Emitter


def out_planes(out: TensorInfo) -> list[int]:
    """The ``plane`` field values that write ``out``: INT8, or HIGH then LOW for 16 bits."""
    return [Plane.INT8] if out.planes == 1 else [Plane.HIGH, Plane.LOW]


def lower_layernorm(em: Emitter, cfg: MachineConfig, x: TensorInfo, out: TensorInfo,
                    header: TensorInfo, params: TensorInfo) -> None:
    d = cfg.dim
    nb = nblocks(x.cols, d)
    p_rows = 1 + 2 * nb
    po = out.planes
    mt_max = min(x.rows, (cfg.acc_rows - p_rows) // (2 * nb), cfg.sp_rows // (2 * po * nb))
    if mt_max < 1:
        raise ValueError(f"a LayerNorm over {x.cols} columns does not fit the accumulator "
                         f"({cfg.acc_rows} rows) at dim={d}")
    tiles = -(-x.rows // mt_max)
    mt_max = -(-x.rows // tiles)
    pa = 0
    a_bufs = [p_rows + i * mt_max * nb for i in range(2)]
    o_bufs = [i * po * mt_max * nb for i in range(2)]
    dma.load(em, d, header, Mem.ACC, pa)
    dma.load(em, d, params, Mem.ACC, pa + 1, blocks=nb)
    views = plane_views(out, d)
    for i, m0 in enumerate(range(0, x.rows, mt_max)):
        mt = min(mt_max, x.rows - m0)
        a, o = a_bufs[i % 2], o_bufs[i % 2]
        dma.load(em, d, x, Mem.ACC, a, row0=m0, rows=mt, blocks=nb)
        for k, plane in enumerate(out_planes(out)):
            ok = o + k * mt * nb
            em.emit(Opcode.LAYERNORM, reads=((ACC, a, a + mt * nb), (ACC, pa, pa + p_rows)),
                    writes=((SP, ok, ok + mt * nb),), src=a, dst=ok, rows=mt, blocks=nb,
                    param=pa, plane=int(plane))
        for k, view in enumerate(views):
            dma.store(em, d, view, Mem.SP, o + k * mt * nb, row0=m0, rows=mt, blocks=nb)
