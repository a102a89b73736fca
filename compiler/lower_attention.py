"""Lowering of multi-head attention: one ATTN instruction per (sequence, head).

Q, K and V of a head are loaded from the fused QKV tensor into double-buffered scratchpad tiles;
the head's parameter rows (score scale, per-column output scales) and the sequence's key mask
go to the accumulator; the
attention engine writes the head's output tile, which is stored into the context tensor.
"""

from __future__ import annotations

from isa import MachineConfig, Mem, Opcode, TensorInfo, attn_param_rows

from . import dma
from .emitter import ACC, SP, Emitter


def lower_attention(em: Emitter, cfg: MachineConfig, qkv: TensorInfo, ctx: TensorInfo,
                    params: TensorInfo, mask: TensorInfo, *, spans: list[tuple[int, int, int]],
                    heads: int, head_blocks: int) -> None:
    """``spans``: per sequence (first row in qkv/ctx, length, first row in mask). A padded batch
    has every length equal to the padded length; an unpadded one packs the real lengths."""
    d = cfg.dim
    seq = max(length for _, length, _ in spans)
    if seq > cfg.max_seq:
        raise ValueError(f"sequence length {seq} exceeds the attention engine's max_seq="
                         f"{cfg.max_seq}: use a machine with a larger max_seq")
    tile = head_blocks * seq
    need_sp = 2 * 4 * tile
    p_rows = attn_param_rows(seq, head_blocks, d)
    head_rows = p_rows - (-(-seq // d))  # parameter rows per head in ``params``
    if params.rows != heads * head_rows:
        raise ValueError(f"attention parameters {params.name} have {params.rows} rows, expected "
                         f"{heads} heads x {head_rows}")
    need_acc = 2 * p_rows
    if need_sp > cfg.sp_rows or need_acc > cfg.acc_rows:
        raise ValueError(f"attention tiles for seq={seq}, head blocks={head_blocks} need "
                         f"{need_sp} scratchpad rows (have {cfg.sp_rows}) and {need_acc} "
                         f"accumulator rows (have {cfg.acc_rows})")
    bufs = [[(4 * i + j) * tile for j in range(4)] for i in range(2)]
    pbufs = [i * p_rows for i in range(2)]
    hp_blocks = heads * head_blocks
    n = 0
    for row0, length, mask0 in spans:
        kb = -(-length // d)
        t_len = head_blocks * length
        for h in range(heads):
            qa, ka, va, oa = bufs[n % 2]
            pa = pbufs[n % 2]
            n += 1
            for base, part in ((qa, 0), (ka, 1), (va, 2)):
                dma.load(em, d, qkv, Mem.SP, base, row0=row0, rows=length,
                         block0=part * hp_blocks + h * head_blocks, blocks=head_blocks)
            dma.load(em, d, params, Mem.ACC, pa, row0=h * head_rows, rows=head_rows)
            dma.load(em, d, mask, Mem.ACC, pa + head_rows, row0=mask0, rows=kb)
            em.emit(Opcode.ATTN,
                    reads=((SP, qa, qa + t_len), (SP, ka, ka + t_len), (SP, va, va + t_len),
                           (ACC, pa, pa + head_rows + kb)),
                    writes=((SP, oa, oa + t_len),),
                    q_addr=qa, k_addr=ka, v_addr=va, o_addr=oa, param=pa, seq=length,
                    hd_blocks=head_blocks)
            dma.store(em, d, ctx, Mem.SP, oa, row0=row0, rows=length, block0=h * head_blocks,
                      blocks=head_blocks)
