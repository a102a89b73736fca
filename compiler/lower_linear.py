"""Lowering of a linear layer (Y = sum_t X_t W_t, then an epilogue) to tiled instructions.

Loop order: for each M tile (rows of X), load the A tiles once; for each group of output column
blocks, stream weight blocks through two scratchpad buffers (the load of block n+1 overlaps the
GEMM of block n), then run the epilogue on the vector unit and store. A weight block that is too
tall for the scratchpad next to a large M tile is streamed in K chunks (one accumulating GEMM
per chunk): a larger M tile means fewer weight reloads, which matters more at large DIM.
Every buffer that two queues share is double-buffered so DMA runs ahead of compute; the emitter
turns the buffer reuse into dependency tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

from isa import MachineConfig, Mem, Opcode, TensorInfo
from isa.layout import nblocks

from . import dma
from .emitter import ACC, SP, Emitter

KINDS = ("acc32", "requant", "gelu", "resadd_ln")
PARAM_ROWS = {"acc32": 0, "requant": 3, "gelu": 5, "resadd_ln": 5}


@dataclass(frozen=True)
class Epilogue:
    """What happens to the int32 accumulator tile.

    * ``acc32``: stored as int32 (optionally after adding ``bias``, an int32 [1, N] tensor that is
      broadcast into the accumulator before the GEMMs).
    * ``requant`` / ``gelu``: vector op with per-block ``params`` ([3, N] / [5, N] int32) -> int8.
    * ``resadd_ln``: RESADD with ``params`` [5, N] and the int8 ``residual`` [M, N], then
      LAYERNORM with ``ln_header`` [1, DIM] and ``ln_params`` [2, N] -> int8.
    """

    kind: str
    params: TensorInfo | None = None
    bias: TensorInfo | None = None
    residual: TensorInfo | None = None
    ln_header: TensorInfo | None = None
    ln_params: TensorInfo | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"epilogue kind {self.kind!r} is not one of {KINDS}")
        needs = {"requant": ("params",), "gelu": ("params",),
                 "resadd_ln": ("params", "residual", "ln_header", "ln_params")}.get(self.kind, ())
        for name in needs:
            if getattr(self, name) is None:
                raise ValueError(f"epilogue {self.kind} needs {name}")


@dataclass(frozen=True)
class LinearPlan:
    m_tile: int
    n_group: int
    sp_rows: int
    acc_rows: int
    k_chunk: int  # K-blocks per weight buffer (= max K-blocks unless the weights are chunked)

#: Smallest K chunk worth a GEMM of its own (fill/drain is ~2*DIM cycles per GEMM).
MIN_K_CHUNK = 4


def plan(cfg: MachineConfig, m: int, kbs: list[int], nb: int, kind: str) -> LinearPlan:
    """Largest M tile (fewest weight reloads), then the widest N group that fits both SRAMs.

    The weight buffers hold whole K-blocks columns unless K chunks (down to MIN_K_CHUNK blocks)
    at least halve the number of M tiles: a smaller gain did not pay for the extra GEMMs and
    LOADs (bert-base seq 512, DIM 16: 12 -> 10 tiles was 1.5 % slower in the timing model)."""
    d = cfg.dim
    kmax = max(kbs)
    whole = next(((t, f) for t in range(1, m + 1)
                  if (f := _fit(cfg, m, kbs, nb, kind, t, kmax))), None)
    limit = whole[0] // 2 if whole else m
    for tiles in range(1, limit + 1):
        for kc in range(kmax - 1, min(MIN_K_CHUNK, kmax) - 1, -1):
            found = _fit(cfg, m, kbs, nb, kind, tiles, kc)
            if found:
                return found
    if whole:
        return whole[1]
    raise ValueError(
        f"a linear layer with M={m}, K-blocks={kbs}, N-blocks={nb} ({kind}) does not fit the "
        f"scratchpad ({cfg.sp_rows} rows) and accumulator ({cfg.acc_rows} rows) at dim={d}: "
        "use a machine with larger SRAMs"
    )


def _fit(cfg: MachineConfig, m: int, kbs: list[int], nb: int, kind: str, tiles: int,
         kc: int) -> LinearPlan | None:
    d = cfg.dim
    p = PARAM_ROWS[kind]
    mt = -(-m // tiles)
    nbuf = 1 if tiles == 1 else 2  # a single M tile needs no second A / residual buffer
    sp_fixed = sum(nbuf * mt * kb for kb in kbs) + 2 * kc * d
    if kind == "resadd_ln":
        ng = nb
        sp = sp_fixed + 2 * nbuf * mt * nb
        acc = mt * nb + p * nb + 1 + 2 * nb
        if sp <= cfg.sp_rows and acc <= cfg.acc_rows:
            return LinearPlan(mt, ng, sp, acc, kc)
        return None
    c_bufs = 2 if kind == "acc32" else 1
    out_sp = 0 if kind == "acc32" else 2 * mt
    per_block_acc = c_bufs * mt + 2 * p
    ng = min(nb, (cfg.acc_rows // per_block_acc) if per_block_acc else nb)
    if out_sp:
        ng = min(ng, (cfg.sp_rows - sp_fixed) // out_sp if cfg.sp_rows > sp_fixed else 0)
    if ng >= 1 and sp_fixed <= cfg.sp_rows:
        return LinearPlan(mt, ng, sp_fixed + out_sp * ng, per_block_acc * ng, kc)
    return None


class _Bump:
    def __init__(self) -> None:
        self.top = 0

    def take(self, rows: int) -> int:
        base, self.top = self.top, self.top + rows
        return base


def lower_linear(em: Emitter, cfg: MachineConfig, terms: list[tuple[TensorInfo, TensorInfo]],
                 out: TensorInfo, ep: Epilogue) -> LinearPlan:
    """Emit ``out = epilogue(sum_t X_t @ W_t)``.

    ``terms``: (X [M, K_t] int8 activations, W [K_t padded to DIM, N] int8 weights, stored
    blocked so that block n is the K-major weight tiles of output block n).
    """
    d = cfg.dim
    m = out.rows
    nb = nblocks(out.cols, d)
    kbs = []
    for x, w in terms:
        if x.rows != m:
            raise ValueError(f"linear: {x.name} has {x.rows} rows, {out.name} has {m}")
        kb = nblocks(x.cols, d)
        if w.rows != kb * d or nblocks(w.cols, d) != nb:
            raise ValueError(f"linear: weight {w.name} shape ({w.rows}, {w.cols}) does not match "
                             f"K-blocks {kb} x N-blocks {nb}")
        kbs.append(kb)
    pl = plan(cfg, m, kbs, nb, ep.kind)
    mt_max, ng = pl.m_tile, pl.n_group

    sp, acc = _Bump(), _Bump()
    nbuf = 1 if mt_max >= m else 2
    a_bufs = [[sp.take(mt_max * kb) for kb in kbs] for _ in range(nbuf)]
    kc = pl.k_chunk
    w_bufs = [sp.take(kc * d) for _ in range(2)]
    p = PARAM_ROWS[ep.kind]
    if ep.kind == "resadd_ln":
        o_bufs = [sp.take(mt_max * nb) for _ in range(nbuf)]
        r_bufs = [sp.take(mt_max * nb) for _ in range(nbuf)]
        c_bufs = [acc.take(mt_max * nb)]
        rp = acc.take(p * nb)
        lnp = acc.take(1 + 2 * nb)
        dma.load(em, d, ep.params, Mem.ACC, rp, blocks=nb)
        dma.load(em, d, ep.ln_header, Mem.ACC, lnp)
        dma.load(em, d, ep.ln_params, Mem.ACC, lnp + 1, blocks=nb)
    else:
        o_bufs = [sp.take(mt_max * ng) for _ in range(2)] if ep.kind != "acc32" else []
        c_bufs = [acc.take(mt_max * ng) for _ in range(2 if ep.kind == "acc32" else 1)]
        p_bufs = [acc.take(p * ng) for _ in range(2)] if p else []

    wcount = 0
    gcount = 0
    for mi, m0 in enumerate(range(0, m, mt_max)):
        mt = min(mt_max, m - m0)
        abuf = a_bufs[mi % nbuf]
        for (x, _), kb, a in zip(terms, kbs, abuf, strict=True):
            dma.load(em, d, x, Mem.SP, a, row0=m0, rows=mt, blocks=kb)
        if ep.kind == "resadd_ln":
            dma.load(em, d, ep.residual, Mem.SP, r_bufs[mi % nbuf], row0=m0, rows=mt, blocks=nb)
        for n0 in range(0, nb, ng):
            gn = min(ng, nb - n0)
            cbuf = c_bufs[gcount % len(c_bufs)]
            if p and ep.kind != "resadd_ln":
                dma.load(em, d, ep.params, Mem.ACC, p_bufs[gcount % 2], block0=n0, blocks=gn)
            preloaded = ep.kind == "acc32" and ep.bias is not None
            if preloaded:
                for j in range(gn):
                    dma.load(em, d, ep.bias, Mem.ACC, cbuf + j * mt, rows=mt, block0=n0 + j,
                             broadcast=True)
            for n in range(n0, n0 + gn):
                c = cbuf + (n - n0) * mt
                for t, ((_, w), kb, a) in enumerate(zip(terms, kbs, abuf, strict=True)):
                    for k0 in range(0, kb, kc):
                        kn = min(kc, kb - k0)
                        wb = w_bufs[wcount % 2]
                        wcount += 1
                        dma.load(em, d, w, Mem.SP, wb, row0=k0 * d, rows=kn * d, block0=n)
                        a0 = a + k0 * mt
                        em.emit(Opcode.GEMM,
                                reads=((SP, a0, a0 + mt * kn), (SP, wb, wb + kn * d)),
                                writes=((ACC, c, c + mt),),
                                accumulate=int(preloaded or t > 0 or k0 > 0), a_addr=a0,
                                a_stride=mt, w_addr=wb, c_addr=c, rows=mt, kblocks=kn)
            tile = (ACC, cbuf, cbuf + mt * gn)
            if ep.kind == "acc32":
                dma.store(em, d, out, Mem.ACC, cbuf, row0=m0, rows=mt, block0=n0, blocks=gn)
            elif ep.kind in ("requant", "gelu"):
                obuf = o_bufs[gcount % 2]
                pb = p_bufs[gcount % 2]
                op = Opcode.REQUANT if ep.kind == "requant" else Opcode.GELU
                em.emit(op, reads=(tile, (ACC, pb, pb + p * gn)),
                        writes=((SP, obuf, obuf + mt * gn),),
                        src=cbuf, dst=obuf, rows=mt, blocks=gn, param=pb)
                dma.store(em, d, out, Mem.SP, obuf, row0=m0, rows=mt, block0=n0, blocks=gn)
            else:
                rbuf, obuf = r_bufs[mi % nbuf], o_bufs[mi % nbuf]
                em.emit(Opcode.RESADD,
                        reads=(tile, (SP, rbuf, rbuf + mt * nb), (ACC, rp, rp + p * nb)),
                        writes=(tile,), src=cbuf, res=rbuf, dst=cbuf, rows=mt, blocks=nb, param=rp)
                em.emit(Opcode.LAYERNORM, reads=(tile, (ACC, lnp, lnp + 1 + 2 * nb)),
                        writes=((SP, obuf, obuf + mt * nb),),
                        src=cbuf, dst=obuf, rows=mt, blocks=nb, param=lnp)
                dma.store(em, d, out, Mem.SP, obuf, row0=m0, rows=mt, blocks=nb)
            gcount += 1
    return pl
