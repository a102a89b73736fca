"""The fused feed-forward block: FFN1 -> GELU -> FFN2 -> RESADD -> LAYERNORM in one kernel.

Per-kernel lowering (two ``lower_linear`` calls) writes the GELU output, 4x the hidden width,
to DRAM and reads it back, and reads h1 twice (FFN1's A, FFN2's residual). Fused, per row
tile of h1 (the A tile, which is also RESADD's residual, read from DRAM once) the FFN width is
walked in chunks: FFN1's output columns of chunk c accumulate in a small accumulator tile, GELU
writes them to a double-buffered scratchpad tile, and FFN2 multiplies that tile by the chunk's
K rows of W2, accumulating into the whole-width output tile that stays in the accumulator for
all chunks. The intermediate never goes to DRAM (unless ``keep`` stores it, for inspection:
a STORE per chunk on the store queue, beside the compute). The integer results are identical:
the accumulator wraps modulo 2**32, so the order of the K terms does not change a sum.

Every buffer is placed by the liveness allocator (compiler/sram_plan.py); ``plan_ffn`` picks
the fused tiling that fits and prices it against the per-kernel lowering with the tiler's cost
model (compiler/tile_cost.py, the layer alone, also at half the DRAM bandwidth); it returns no
plan, with the reason, where the fused kernel does not fit or is not faster, and the caller
lowers the two kernels as before.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

from isa import MachineConfig, Mem, Opcode, TensorInfo
from isa.layout import nblocks

from . import dma
from .dram import DramBuilder, plane_views
from .emitter import ACC, SP, Emitter
from .lower_layernorm import lower_layernorm, out_planes
from .lower_linear import MIN_GAIN, MIN_K_CHUNK, PARAM_ROWS, Epilogue, WeightRing, lower_linear
from .sram_plan import PlanError, SramPlan
from .tile_cost import stream_cycles

GELU_P, RES_P = PARAM_ROWS["gelu"], PARAM_ROWS["resadd_ln"]


@dataclass(frozen=True)
class FfnShape:
    m: int  # rows (tokens)
    kb: int  # hidden blocks (FFN1's K, FFN2's N)
    fb: int  # FFN-width blocks
    pa: int = 1  # int8 planes of h1 (A and residual)
    pf: int = 1  # of the GELU output
    po: int = 1  # of the layer output
    keep: bool = False  # also store the GELU output to DRAM


@dataclass(frozen=True)
class FfnPlan:
    m_tile: int
    f_chunk: int  # FFN blocks per chunk
    k_chunk: int  # K-blocks per W1 load
    a_buffers: int  # 2: the next row tile's A loads while this one computes
    #: weight tiles in flight: W1 and W2 tiles stream through one ring of this many slots, each
    #: LOAD emitted w_slots - 1 loads ahead of its GEMM (so it is dispatched before the GELU
    #: that would otherwise hold it back, docs/timing.md "Costly patterns")
    w_slots: int = 2
    cycles: int = 0  # the cost model's estimate of the fused kernel alone
    per_kernel_cycles: int = 0  # and of the two kernels it replaces

    def describe(self, m: int) -> str:
        tiles = -(-m // self.m_tile)
        return (f"fused: {tiles} row tile(s) of {self.m_tile}, FFN chunks of {self.f_chunk} "
                f"blocks, est. {self.cycles:,} cycles vs {self.per_kernel_cycles:,} per-kernel")


def _equal_chunks(total: int, limit: int) -> int:
    """The size of the fewest equal chunks of ``total`` no larger than ``limit``."""
    n = -(-total // max(1, limit))
    return -(-total // n)


def layout(cfg: MachineConfig, s: FfnShape, pl: FfnPlan) -> SramPlan:
    """Every buffer of the fused kernel with its live interval in row-tile steps, allocated
    (PlanError if it does not fit). Tile i's A tile lives from the step its load can overlap
    (i - 1 when double-buffered) to its RESADD; its output tile to the next step (its STORE
    runs beside the next tile); the rest lives for the whole kernel."""
    d = cfg.dim
    tiles = -(-s.m // pl.m_tile)
    mt, fc, last = pl.m_tile, pl.f_chunk, tiles - 1
    sp = SramPlan(cfg.sp_rows, cfg.acc_rows)
    for i in range(tiles):
        sp.add(f"a{i}", "sp", mt * s.kb * s.pa, max(0, i - (pl.a_buffers - 1)), i)
        sp.add(f"o{i}", "sp", mt * s.kb * s.po, i, min(i + pl.a_buffers - 1, last))
        sp.add(f"c2_{i}", "acc", mt * s.kb, i, i)
    for j in range(pl.w_slots):
        sp.add(f"w{j}", "sp", max(pl.k_chunk, fc) * d, 0, last)
    for j in range(2):
        sp.add(f"g{j}", "sp", mt * fc * s.pf, 0, last)
        sp.add(f"pg{j}", "acc", GELU_P * fc, 0, last)
    sp.add("c1", "acc", mt * fc, 0, last)
    sp.add("rp", "acc", RES_P * s.kb, 0, last)
    sp.add("lnp", "acc", 1 + 2 * s.kb, 0, last)
    return sp.allocate()


def _fits(cfg: MachineConfig, s: FfnShape, pl: FfnPlan) -> bool:
    try:
        layout(cfg, s, pl)
    except PlanError:
        return False
    return True


def candidates(cfg: MachineConfig, s: FfnShape) -> list[FfnPlan]:
    """Fused tilings that fit: the fewest row tiles that fit at all and one more, each with
    double- then single-buffered A tiles, whole (else the widest equal, at least MIN_K_CHUNK)
    W1 K chunks and the widest equal FFN chunk that fits, with W_SLOTS weight slots (each
    that fits)."""
    out: list[FfnPlan] = []
    first = None
    seen = set()
    for tiles in range(1, s.m + 1):
        mt = -(-s.m // tiles)
        if mt in seen:
            continue
        seen.add(mt)
        if first is not None and tiles > first + 1:
            break
        for nbuf in (2, 1) if tiles > 1 else (1,):
            for slots in W_SLOTS:
                found = _widest(cfg, s, mt, nbuf, slots)
                if found is not None and found not in out:
                    out.append(found)
                    first = tiles if first is None else first
    return out


#: Weight-ring sizes tried.
W_SLOTS = (2, 4, 8)


def _widest(cfg: MachineConfig, s: FfnShape, mt: int, nbuf: int,
            slots: int) -> FfnPlan | None:
    kcs = sorted({_equal_chunks(s.kb, lim) for lim in range(s.kb, 0, -1)}, reverse=True)
    for kc in [k for k in kcs if k == s.kb or k >= MIN_K_CHUNK]:
        # the widest equal FFN chunk: binary search over the chunk limit (fit is monotone)
        lo, hi = 0, s.fb
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if _fits(cfg, s, FfnPlan(mt, _equal_chunks(s.fb, mid), kc, nbuf, slots)):
                lo = mid
            else:
                hi = mid - 1
        if lo:
            return FfnPlan(mt, _equal_chunks(s.fb, lo), kc, nbuf, slots)
    return None


@dataclass(frozen=True)
class FfnTensors:
    h1: TensorInfo  # FFN1's input and FFN2's residual
    w1: TensorInfo
    p_gelu: TensorInfo
    ff: TensorInfo  # the GELU output in DRAM (written only with ``keep``)
    w2: TensorInfo
    p_res: TensorInfo
    ln_header: TensorInfo
    ln_params: TensorInfo
    out: TensorInfo


def shape_of(cfg: MachineConfig, t: FfnTensors, keep: bool) -> FfnShape:
    d = cfg.dim
    kb, fb = nblocks(t.h1.cols, d), nblocks(t.ff.cols, d)
    if nblocks(t.out.cols, d) != kb or t.out.rows != t.h1.rows:
        raise ValueError(f"fused FFN: output {t.out.name} is not h1's shape")
    return FfnShape(t.h1.rows, kb, fb, t.h1.planes, t.ff.planes, t.out.planes, keep)


@functools.lru_cache(maxsize=64)
def plan_ffn(cfg: MachineConfig, s: FfnShape) -> tuple[FfnPlan | None, str]:
    """The fused plan to use (or SPILL), or None and why the per-kernel lowering is used."""
    t = _stand_ins(cfg, s)
    slow = cfg.replace(dram_bytes_per_cycle=max(1, cfg.dram_bytes_per_cycle // 2))
    em = Emitter()
    _per_kernel(em, cfg, t)
    stream = em.finish()
    base, base_slow = stream_cycles(stream, cfg), stream_cycles(stream, slow)
    spill_why = _spill_choice(cfg, t, base, base_slow, slow)
    cands = candidates(cfg, s)
    if not cands:
        return spill_why[:2] if spill_why else (
            None, "per-kernel: the fused FFN does not fit the SRAMs")
    priced = []
    for i, pl in enumerate(cands):
        em = Emitter()
        emit_ffn(em, cfg, t, pl, keep=s.keep)
        stream = em.finish()
        priced.append((stream_cycles(stream, cfg), i, stream_cycles(stream, slow), pl))
    # More row tiles stream the weights once more: only for a clear gain (as the tiler's MIN_GAIN)
    fewest = min(-(-s.m // pl.m_tile) for pl in cands)
    few = min(p for p in priced if -(-s.m // p[3].m_tile) == fewest)
    more = [p for p in priced if p[0] <= (1.0 - MIN_GAIN) * few[0] and p[2] <= few[2]]
    cost, _, cost_slow, best = min(more) if more else few
    if spill_why and spill_why[2] < cost:
        return spill_why[:2]
    if cost >= base or cost_slow > base_slow:
        return None, (f"per-kernel: faster by the cost model ({base:,} cycles vs {cost:,} "
                      "fused)")
    pl = replace(best, cycles=cost, per_kernel_cycles=base)
    return pl, pl.describe(s.m)


#: ``plan_ffn``'s choice of FFN1 per-kernel, then FFN2 in one row tile with RESADD per output
#: column group, its int32 rows stored and normalised by a LayerNorm pass of their own.
SPILL = "spill"


def _spill_choice(cfg, t, base, base_slow, slow):
    """(SPILL, why, cycles) if that beats the per-kernel lowering (at both bandwidths), else
    None."""
    em = Emitter()
    try:
        _spilled(em, cfg, t, _acc_stand_in(cfg, t))
    except ValueError:
        return None
    stream = em.finish()
    cost, cost_slow = stream_cycles(stream, cfg), stream_cycles(stream, slow)
    if cost >= base or cost_slow > base_slow:
        return None
    return SPILL, (f"spilled: FFN2 with RESADD per column group, int32 rows to DRAM, then a "
                   f"LayerNorm pass; est. {cost:,} cycles vs {base:,} per-kernel"), cost


def _acc_stand_in(cfg: MachineConfig, t: FfnTensors) -> TensorInfo:
    db = DramBuilder(cfg)
    return db.add_buffer("ya", t.out.rows, t.out.cols, "int32")


def _spilled(em: Emitter, cfg: MachineConfig, t: FfnTensors, acc_out: TensorInfo,
             names: tuple[str, str, str] | None = None) -> None:
    """FFN1 + GELU as before; FFN2 + RESADD into int32 ``acc_out`` (no whole-row tile, so
    one row tile reads W2 once); the LayerNorm of ``acc_out`` as the embeddings' one."""
    if names:
        em.begin_layer(names[1])
    lower_linear(em, cfg, [(t.h1, t.w1)], t.ff, Epilogue("gelu", params=t.p_gelu))
    if names:
        em.begin_layer(names[2])
    lower_linear(em, cfg, [(t.ff, t.w2)], acc_out,
                 Epilogue("resadd", params=t.p_res, residual=t.h1))
    lower_layernorm(em, cfg, acc_out, t.out, t.ln_header, t.ln_params)


def _stand_ins(cfg: MachineConfig, s: FfnShape) -> FfnTensors:
    d = cfg.dim
    act = {1: "int8", 2: "int16"}
    db = DramBuilder(cfg)
    h, f = s.kb * d, s.fb * d
    return FfnTensors(
        h1=db.add_buffer("h1", s.m, h, act[s.pa]), w1=db.add_buffer("w1", h, f, "int8"),
        p_gelu=db.add_buffer("pg", GELU_P, f, "int32"), ff=db.add_buffer("ff", s.m, f, act[s.pf]),
        w2=db.add_buffer("w2", f, h, "int8"), p_res=db.add_buffer("pr", RES_P, h, "int32"),
        ln_header=db.add_buffer("lh", 1, d, "int32"),
        ln_params=db.add_buffer("lp", 2, h, "int32"), out=db.add_buffer("y", s.m, h, act[s.po]))


def _per_kernel(em: Emitter, cfg: MachineConfig, t: FfnTensors,
                names: tuple[str, str, str] | None = None) -> None:
    """Today's two kernels (what a layer that is not fused runs), each in its layer span of
    ``names`` if given."""
    if names:
        em.begin_layer(names[1])
    lower_linear(em, cfg, [(t.h1, t.w1)], t.ff, Epilogue("gelu", params=t.p_gelu))
    if names:
        em.begin_layer(names[2])
    lower_linear(em, cfg, [(t.ff, t.w2)], t.out,
                 Epilogue("resadd_ln", params=t.p_res, residual=t.h1, ln_header=t.ln_header,
                          ln_params=t.ln_params))


def lower_ffn(em: Emitter, cfg: MachineConfig, t: FfnTensors, *, keep: bool = False,
              fuse: bool = True, names: tuple[str, str, str] = ("ffn", "ffn1_gelu", "ffn2_ln"),
              acc_out=None) -> str:
    """Emit the feed-forward block, fused when ``plan_ffn`` finds it worth it (and ``fuse``);
    returns what was used (for the compile log). ``names``: the layer spans (fused, FFN1,
    FFN2). ``acc_out()``: a new int32 DRAM tensor of the output's shape, for the spilled
    lowering (None: not available)."""
    if fuse:
        pl, why = plan_ffn(cfg, shape_of(cfg, t, keep))
    else:
        pl, why = None, "per-kernel: the planner is off"
    if pl == SPILL and acc_out is None:
        pl, why = None, "per-kernel: no DRAM tensor for the spilled lowering"
    if pl == SPILL:
        _spilled(em, cfg, t, acc_out(), names)
        return why
    if pl is None:
        _per_kernel(em, cfg, t, names)
        return why
    em.begin_layer(names[0])
    emit_ffn(em, cfg, t, pl, keep=keep)
    return why


def emit_ffn(em: Emitter, cfg: MachineConfig, t: FfnTensors, pl: FfnPlan, *,
             keep: bool = False) -> SramPlan:
    """The fused kernel's instructions for plan ``pl``; returns its SRAM allocation."""
    d = cfg.dim
    s = shape_of(cfg, t, keep)
    m, kb, fb, pa, pf = s.m, s.kb, s.fb, s.pa, s.pf
    alloc = layout(cfg, s, pl)
    b = alloc.base
    mt_max, fc, kc = pl.m_tile, pl.f_chunk, pl.k_chunk
    rp, lnp, c1 = b("rp"), b("lnp"), b("c1")
    g_bufs, pg_bufs = ([b(f"{n}{j}") for j in range(2)] for n in ("g", "pg"))
    ring = WeightRing(em, d, [b(f"w{j}") for j in range(pl.w_slots)],
                       _weight_loads(t, m, mt_max, kb, fb, fc, kc, d))
    dma.load(em, d, t.p_res, Mem.ACC, rp, blocks=kb)
    dma.load(em, d, t.ln_header, Mem.ACC, lnp)
    dma.load(em, d, t.ln_params, Mem.ACC, lnp + 1, blocks=kb)
    h1_views, ff_views, out_views = (plane_views(x, d) for x in (t.h1, t.ff, t.out))
    gcount = 0
    for i, m0 in enumerate(range(0, m, mt_max)):
        mt = min(mt_max, m - m0)
        a, o, c2 = b(f"a{i}"), b(f"o{i}"), b(f"c2_{i}")
        for k, view in enumerate(h1_views):
            dma.load(em, d, view, Mem.SP, a + k * mt * kb, row0=m0, rows=mt, blocks=kb)
        for ci, f0 in enumerate(range(0, fb, fc)):
            fn = min(fc, fb - f0)
            g, pg = g_bufs[gcount % 2], pg_bufs[gcount % 2]
            gcount += 1
            dma.load(em, d, t.p_gelu, Mem.ACC, pg, block0=f0, blocks=fn)
            for n in range(f0, f0 + fn):  # FFN1, chunk columns
                c = c1 + (n - f0) * mt
                for k0 in range(0, kb, kc):
                    kn = min(kc, kb - k0)
                    wb = ring.next()
                    for k in range(pa):
                        a0 = a + k * mt * kb + k0 * mt
                        em.emit(Opcode.GEMM,
                                reads=((SP, a0, a0 + mt * kn), (SP, wb, wb + kn * d)),
                                writes=((ACC, c, c + mt),),
                                accumulate=int(k0 > 0 or k > 0), a_addr=a0, a_stride=mt,
                                w_addr=wb, c_addr=c, rows=mt, kblocks=kn,
                                shift8=int(pa == 2 and k == 0))
            tile = (ACC, c1, c1 + mt * fn)
            for k, plane in enumerate(out_planes(t.ff)):
                gk = g + k * mt * fn
                em.emit(Opcode.GELU, reads=(tile, (ACC, pg, pg + GELU_P * fn)),
                        writes=((SP, gk, gk + mt * fn),),
                        src=c1, dst=gk, rows=mt, blocks=fn, param=pg, plane=int(plane))
            if keep:
                for k, view in enumerate(ff_views):
                    dma.store(em, d, view, Mem.SP, g + k * mt * fn, row0=m0, rows=mt,
                              block0=f0, blocks=fn)
            for n in range(kb):  # FFN2: this chunk's K rows into every output block
                wb = ring.next()
                c = c2 + n * mt
                for k in range(pf):
                    a0 = g + k * mt * fn
                    em.emit(Opcode.GEMM,
                            reads=((SP, a0, a0 + mt * fn), (SP, wb, wb + fn * d)),
                            writes=((ACC, c, c + mt),),
                            accumulate=int(ci > 0 or k > 0), a_addr=a0, a_stride=mt, w_addr=wb,
                            c_addr=c, rows=mt, kblocks=fn, shift8=int(pf == 2 and k == 0))
        tile = (ACC, c2, c2 + mt * kb)
        em.emit(Opcode.RESADD,
                reads=(tile, (SP, a, a + mt * kb * pa), (ACC, rp, rp + RES_P * kb)),
                writes=(tile,), src=c2, res=a, dst=c2, rows=mt, blocks=kb, param=rp,
                res_wide=int(pa == 2))
        for k, plane in enumerate(out_planes(t.out)):
            ok = o + k * mt * kb
            em.emit(Opcode.LAYERNORM, reads=(tile, (ACC, lnp, lnp + 1 + 2 * kb)),
                    writes=((SP, ok, ok + mt * kb),),
                    src=c2, dst=ok, rows=mt, blocks=kb, param=lnp, plane=int(plane))
        for k, view in enumerate(out_views):
            dma.store(em, d, view, Mem.SP, o + k * mt * kb, row0=m0, rows=mt, blocks=kb)
    return alloc


def _weight_loads(t: FfnTensors, m: int, mt_max: int, kb: int, fb: int, fc: int, kc: int,
                  d: int) -> list[tuple[TensorInfo, int, int, int]]:
    """Every weight tile the fused kernel loads, in the order its GEMMs use them:
    (tensor, first row, rows, block)."""
    out = []
    for _ in range(0, m, mt_max):
        for f0 in range(0, fb, fc):
            fn = min(fc, fb - f0)
            out += [(t.w1, k0 * d, min(kc, kb - k0) * d, n)
                    for n in range(f0, f0 + fn) for k0 in range(0, kb, kc)]
            out += [(t.w2, f0 * d, fn * d, n) for n in range(kb)]
    return out
