"""Functional simulator: executes a program instruction by instruction, bit-exact.

This is the golden model. It implements docs/isa.md with the integer functions of
isa/numerics.py and nothing else; the RTL must agree with it on every program. Matrix products
use float BLAS only where the result is provably exact (every partial sum within 2**24 for float32,
below 2**53 for float64).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from isa import (
    ErrorCode,
    Instruction,
    Mem,
    Opcode,
    Plane,
    Program,
    Queue,
    attn_param_rows,
    numerics,
)
from isa.opcodes import NEIGHBOURS

from .errors import SimError

_INT8_PROD = 1 << 14  # |int8 * int8| <= 2**14
_NEIGHBOURS = NEIGHBOURS
_MEMS = {int(m): m for m in Mem}
if not np.little_endian:  # pragma: no cover - the DMAs copy int32 bytes unconverted
    raise ImportError("the functional simulator needs a little-endian host")


@dataclass
class FunctionalStats:
    instructions: int = 0
    by_opcode: dict[str, int] = field(default_factory=dict)
    macs: int = 0  # array multiply-accumulates, padding included
    dram_read: int = 0
    dram_written: int = 0


#: Integers up to 2**24 in magnitude are exact in float32, up to 2**53 in float64.
_F32_EXACT = 1 << 24
_F64_EXACT = 1 << 53


def _exact_matmul(a: np.ndarray, b: np.ndarray, max_abs_prod: int) -> np.ndarray:
    """Exact integer a @ b (every |a[i, k] * b[k, j]| <= max_abs_prod); int64 result.

    float32 BLAS over chunks of K short enough that every partial sum stays within 2**24
    (chunk * max_abs_prod <= 2**24), the chunks summed in int64; float64 BLAS if such chunks
    would be too short (exact while K * max_abs_prod < 2**53), else int64. Single-threaded
    OpenBLAS on this project's machines ran float32 GEMM at about twice float64's rate
    (benchmarks/README.md, "Functional + timing simulation").
    """
    k = a.shape[-1]
    chunk = _F32_EXACT // max_abs_prod
    if chunk >= min(k, 64):
        a32 = a.astype(np.float32, copy=False)
        b32 = b.astype(np.float32, copy=False)
        if k <= chunk:
            return (a32 @ b32).astype(np.int64)
        out = (a32[:, :chunk] @ b32[:chunk]).astype(np.int64)
        for k0 in range(chunk, k, chunk):
            out += (a32[:, k0 : k0 + chunk] @ b32[k0 : k0 + chunk]).astype(np.int64)
        return out
    if k * max_abs_prod < _F64_EXACT:  # pragma: no cover - not reachable by the ISA
        return (a.astype(np.float64) @ b.astype(np.float64, copy=False)).astype(np.int64)
    return a.astype(np.int64) @ b.astype(np.int64)  # pragma: no cover


class FunctionalSim:
    """State of one accelerator (DRAM, scratchpad, accumulator, token counters)."""

    def __init__(self, program: Program, dram: np.ndarray | None = None):
        self.program = program
        cfg = program.config
        self.dim = cfg.dim
        self.cfg = cfg
        self._sp_rows, self._acc_rows = cfg.sp_rows, cfg.acc_rows
        self.sp = np.zeros((cfg.sp_rows, cfg.dim), dtype=np.int8)
        self.acc = np.zeros((cfg.acc_rows, cfg.dim), dtype=np.int32)
        self.dram = program.new_dram() if dram is None else dram
        # Byte views of the SRAM rows for the DMAs: DRAM holds int32 little-endian, as the
        # accumulator does on a little-endian host (the only kind this simulator runs on).
        self._sp_bytes = self.sp.view(np.uint8)
        self._acc_bytes = self.acc.view(np.uint8).reshape(cfg.acc_rows, cfg.dim * 4)
        if self.dram.dtype != np.uint8 or self.dram.ndim != 1:
            raise TypeError("dram must be a 1-D uint8 array")
        self.tokens = {(a, b): 0 for a in Queue for b in Queue if abs(a - b) == 1}
        self.stats = FunctionalStats()
        self.pc = 0
        #: GEMMs that share one A tile are batched into one wide matmul (same results: each
        #: weight tile is copied when its GEMM issues; flushed before anything reads the
        #: accumulator or overwrites A). Several A tiles may be pending at once (the two planes
        #: of a 16-bit A alternate); results are applied in program order.
        self.defer = True
        self._pending: dict | None = None

    # -- checks ----------------------------------------------------------------------------
    def _fail(self, code: ErrorCode, msg: str):
        prog = self.program.instructions
        ins = prog[self.pc] if self.pc < len(prog) else None
        raise SimError(code, self.pc, msg, ins)

    def _sram(self, mem: Mem, addr: int, rows: int, what: str) -> None:
        limit = self._sp_rows if mem == Mem.SP else self._acc_rows
        if addr + rows > limit:
            name = "scratchpad" if mem == Mem.SP else "accumulator"
            self._fail(
                ErrorCode.SRAM_RANGE,
                f"{what} rows [{addr}, {addr + rows}) exceed the {name} ({limit} rows)",
            )

    def _positive(self, ins: Instruction, *names: str) -> None:
        for n in names:
            if ins.f[n] < 1:
                self._fail(ErrorCode.BAD_FIELD, f"{ins.op.name}.{n} must be >= 1")

    def _shifts(self, *arrays) -> None:
        for s in arrays:
            s = np.asarray(s)
            if s.size and (s.min() < 0 or s.max() > numerics.MAX_SHIFT):
                self._fail(ErrorCode.BAD_FIELD,
                           f"shift parameter outside [0, {numerics.MAX_SHIFT}]")

    # -- dependency tokens -----------------------------------------------------------------
    def _deps_before(self, ins: Instruction) -> None:
        f = ins.f
        if not (f["pop_prev"] or f["pop_next"] or f["push_prev"] or f["push_next"]):
            return
        q = ins.queue
        prev, nxt = _NEIGHBOURS[q]
        for flag, other in (("pop_prev", prev), ("pop_next", nxt), ("push_prev", prev),
                            ("push_next", nxt)):
            if ins.f[flag] and other is None:
                self._fail(ErrorCode.DEPENDENCY, f"{ins.op.name} in the {q.name} queue has "
                           f"{flag} set but that queue has no such neighbour")
        for flag, other in (("pop_prev", prev), ("pop_next", nxt)):
            if ins.f[flag]:
                if self.tokens[(other, q)] == 0:
                    self._fail(ErrorCode.DEPENDENCY, f"{flag}: no token from the {other.name} "
                               "queue was pushed earlier in program order")
                self.tokens[(other, q)] -= 1

    def _deps_after(self, ins: Instruction) -> None:
        f = ins.f
        if not (f["push_prev"] or f["push_next"]):
            return
        q = ins.queue
        prev, nxt = _NEIGHBOURS[q]
        if ins.f["push_prev"]:
            self.tokens[(q, prev)] += 1
        if ins.f["push_next"]:
            self.tokens[(q, nxt)] += 1

    # -- execution -------------------------------------------------------------------------
    def _handlers(self):
        return {
            Opcode.NOP: lambda ins: None,
            Opcode.LOAD: self._load,
            Opcode.STORE: self._store,
            Opcode.GEMM: self._gemm,
            Opcode.REQUANT: self._vector,
            Opcode.GELU: self._vector,
            Opcode.RESADD: self._vector,
            Opcode.LAYERNORM: self._layernorm,
            Opcode.ATTN: self._attn,
        }

    def run(self, progress: Callable[[int], None] | None = None,
            every: int = 256) -> FunctionalStats:
        """Execute the whole program in program order; raises SimError on the first error."""
        handlers = self._handlers()
        counts: dict[Opcode, int] = {}
        try:
            for pc, ins in enumerate(self.program.instructions):
                self.pc = pc
                self._deps_before(ins)
                if self._pending is not None and self._must_flush(ins):
                    self._flush()
                op = ins.op
                handlers[op](ins)
                self._deps_after(ins)
                counts[op] = counts.get(op, 0) + 1
                if progress is not None and pc % every == every - 1:
                    progress(every)
        finally:
            by_op = self.stats.by_opcode
            for op, c in counts.items():
                by_op[op.name] = by_op.get(op.name, 0) + c
        self._flush()
        n = len(self.program.instructions)
        self.stats.instructions = n
        if progress is not None and n % every:
            progress(n % every)
        return self.stats

    def run_interleaved(self, seed: int = 0) -> FunctionalStats:
        """Execute the three queues in a random interleaving that respects only in-queue order
        and dependency tokens (as concurrent hardware may). A program whose tokens cover every
        hazard gives the same final state as ``run()``; a deadlock raises DEPENDENCY."""
        rng = np.random.default_rng(seed)
        self.defer = False
        handlers = self._handlers()
        queues: dict[Queue, list[int]] = {q: [] for q in Queue}
        for pc, ins in enumerate(self.program.instructions):
            queues[ins.queue].append(pc)
        heads = dict.fromkeys(Queue, 0)
        prog = self.program.instructions
        remaining = len(prog)

        def ready(q: Queue) -> bool:
            if heads[q] >= len(queues[q]):
                return False
            ins = prog[queues[q][heads[q]]]
            prev, nxt = _NEIGHBOURS[q]
            if ins.f["pop_prev"] and prev is not None and self.tokens[(prev, q)] == 0:
                return False
            return not (ins.f["pop_next"] and nxt is not None and self.tokens[(nxt, q)] == 0)

        while remaining:
            cands = [q for q in Queue if ready(q)]
            if not cands:
                self.pc = min(queues[q][heads[q]] for q in Queue if heads[q] < len(queues[q]))
                self._fail(ErrorCode.DEPENDENCY, "deadlock: every queue waits for a token")
            q = cands[int(rng.integers(len(cands)))]
            pc = queues[q][heads[q]]
            heads[q] += 1
            ins = prog[pc]
            self.pc = pc
            self._deps_before(ins)
            handlers[ins.op](ins)
            self._deps_after(ins)
            remaining -= 1
        self.stats.instructions = len(prog)
        return self.stats

    def _dram_rows(self, ins: Instruction, esize: int) -> np.ndarray:
        """Byte index matrix [rows, cols*esize] of a DMA transfer, range-checked."""
        nbytes = ins.cols * esize
        last = ins.dram_addr + (ins.rows - 1) * ins.dram_stride + nbytes
        if last > self.dram.size:
            self._fail(ErrorCode.DRAM_RANGE, f"{ins.op.name} touches DRAM bytes up to {last}, "
                       f"past the end of DRAM ({self.dram.size} bytes)")
        starts = ins.dram_addr + np.arange(ins.rows, dtype=np.int64) * ins.dram_stride
        return starts[:, None] + np.arange(nbytes, dtype=np.int64)[None, :]

    def _dma_check(self, ins: Instruction) -> tuple[Mem, int]:
        f = ins.f
        if f["rows"] < 1 or f["cols"] < 1:
            self._positive(ins, "rows", "cols")
        if f["cols"] > self.dim:
            self._fail(ErrorCode.BAD_FIELD, f"{ins.op.name}.cols={ins.cols} exceeds DIM={self.dim}")
        mem = _MEMS[f["mem"]] if f["mem"] in _MEMS else Mem(f["mem"])
        limit = self._sp_rows if mem == Mem.SP else self._acc_rows
        if f["sram_addr"] + f["rows"] > limit:
            self._sram(mem, f["sram_addr"], f["rows"], ins.op.name)
        return mem, (1 if mem == Mem.SP else 4)

    def _load(self, ins: Instruction) -> None:
        mem, esize = self._dma_check(ins)
        f = ins.f
        n_rows, cols, addr, stride = f["rows"], f["cols"], f["dram_addr"], f["dram_stride"]
        nbytes = cols * esize
        if stride == nbytes or n_rows == 1:
            if addr + n_rows * nbytes > self.dram.size:
                self._dram_rows(ins, esize)  # raises DRAM_RANGE
            raw = self.dram[addr : addr + n_rows * nbytes]
        else:
            raw = self.dram[self._dram_rows(ins, esize)]
        # Byte views of the SRAM rows: DRAM bytes go in unconverted (int32 little-endian).
        target = self._sp_bytes if mem == Mem.SP else self._acc_bytes
        first = f["sram_addr"]
        if nbytes == target.shape[1]:
            target[first : first + n_rows] = raw.reshape(n_rows, nbytes)
        else:
            target[first : first + n_rows, :nbytes] = raw.reshape(n_rows, nbytes)
            target[first : first + n_rows, nbytes:] = 0
        self.stats.dram_read += n_rows * nbytes

    def _store(self, ins: Instruction) -> None:
        mem, esize = self._dma_check(ins)
        f = ins.f
        n_rows, addr, first = f["rows"], f["dram_addr"], f["sram_addr"]
        nbytes = f["cols"] * esize
        src = self._sp_bytes if mem == Mem.SP else self._acc_bytes
        block = src[first : first + n_rows, :nbytes]
        if f["dram_stride"] == nbytes or n_rows == 1:
            end = addr + n_rows * nbytes
            if end > self.dram.size:
                self._dram_rows(ins, esize)
            self.dram[addr:end].reshape(n_rows, nbytes)[:] = block
        else:
            self.dram[self._dram_rows(ins, esize)] = block
        self.stats.dram_written += n_rows * nbytes

    def _must_flush(self, ins: Instruction) -> bool:
        op, f = ins.op, ins.f
        if op == Opcode.NOP:
            return False
        p = self._pending
        if op == Opcode.GEMM:
            return False
        if op == Opcode.LOAD and f["mem"] == Mem.SP:
            return any(f["sram_addr"] < hi and lo < f["sram_addr"] + f["rows"]
                       for lo, hi in p["a_rows"])
        return True

    def _gemm(self, ins: Instruction) -> None:
        f = ins.f
        d, rows, kb = self.dim, f["rows"], f["kblocks"]
        a_addr, a_stride, w_addr, c_addr = f["a_addr"], f["a_stride"], f["w_addr"], f["c_addr"]
        a_end = a_addr + (kb - 1) * a_stride + rows
        sp_rows = self._sp_rows
        if (rows < 1 or kb < 1 or a_end > sp_rows or w_addr + kb * d > sp_rows
                or c_addr + rows > self._acc_rows):  # the checks in their order, to fail
            self._positive(ins, "rows", "kblocks")
            self._sram(Mem.SP, a_addr, (kb - 1) * a_stride + rows, "GEMM A")
            self._sram(Mem.SP, w_addr, kb * d, "GEMM weights")
            self._sram(Mem.ACC, c_addr, rows, "GEMM C")
        w = self.sp[w_addr : w_addr + kb * d].copy()
        if self._pending is None:
            self._pending = {"keys": {}, "items": [], "a_rows": []}
        p = self._pending
        key = (a_addr, a_stride, rows, kb)
        if key not in p["keys"]:
            p["keys"][key] = []
            p["a_rows"].append((a_addr, a_end))
        p["keys"][key].append(len(p["items"]))
        p["items"].append((w, c_addr, f["accumulate"], f["shift8"], rows))
        self.stats.macs += rows * kb * d * d
        if not self.defer:
            self._flush()

    def _flush(self) -> None:
        p, self._pending = self._pending, None
        if p is None:
            return
        d = self.dim
        items = p["items"]
        results: list = [None] * len(items)
        for (a_addr, a_stride, rows, kb), which in p["keys"].items():
            if a_stride == rows:
                a = self.sp[a_addr : a_addr + kb * rows].reshape(kb, rows, d)
            else:
                idx = a_addr + np.arange(kb)[:, None] * a_stride + np.arange(rows)[None, :]
                a = self.sp[idx]
            a = a.transpose(1, 0, 2).reshape(rows, kb * d)
            # Concatenated as int8, then converted in one contiguous pass (faster than
            # converting while concatenating).
            w_all = np.concatenate([items[j][0] for j in which], axis=1).astype(np.float32)
            c_all = _exact_matmul(a, w_all, _INT8_PROD)
            for n, j in enumerate(which):
                results[j] = c_all[:, n * d : (n + 1) * d]
        for c, (_, c_addr, accumulate, shift8, rows) in zip(results, items, strict=True):
            if shift8:
                c = c << numerics.WIDE_SHIFT
            out = slice(c_addr, c_addr + rows)
            if accumulate:
                c = c + self.acc[out]
            self.acc[out] = c  # int64 -> int32 assignment wraps modulo 2**32

    def _tile(self, mem: Mem, base: int, rows: int, blocks: int, what: str) -> slice:
        self._sram(mem, base, rows * blocks, what)
        return slice(base, base + rows * blocks)

    def _params(self, base: int, per_block: int, blocks: int, what: str) -> np.ndarray:
        """Parameter block [blocks, per_block, DIM] (int64) from the accumulator."""
        self._sram(Mem.ACC, base, per_block * blocks, f"{what} parameters")
        p = self.acc[base : base + per_block * blocks].astype(np.int64)
        return p.reshape(blocks, per_block, self.dim)

    def _plane(self, ins: Instruction) -> int:
        plane = ins.f["plane"]
        if plane not in tuple(Plane):
            self._fail(ErrorCode.BAD_FIELD, f"{ins.op.name} plane={plane} is not one of "
                       f"{', '.join(f'{p.value} ({p.name})' for p in Plane)}")
        return plane

    def _vector(self, ins: Instruction) -> None:
        self._positive(ins, "rows", "blocks")
        rows, blocks, d, op = ins.rows, ins.blocks, self.dim, ins.op
        plane = self._plane(ins) if op != Opcode.RESADD else 0
        src = self._tile(Mem.ACC, ins.src, rows, blocks, f"{op.name} src")
        x = self.acc[src].astype(np.int64).reshape(blocks, rows, d)
        if op == Opcode.REQUANT:
            p = self._params(ins.param, 3, blocks, op.name)[:, :, None, :]
            self._shifts(p[:, 2])
            out = numerics.requant8(x, p[:, 0], p[:, 1], p[:, 2], plane)
            dst = self._tile(Mem.SP, ins.dst, rows, blocks, "REQUANT dst")
            self.sp[dst] = out.reshape(-1, d)
        elif op == Opcode.GELU:
            p = self._params(ins.param, 5, blocks, op.name)[:, :, None, :]
            self._shifts(p[:, 2], p[:, 4])
            out = numerics.gelu8(x, p[:, 0], p[:, 1], p[:, 2], p[:, 3], p[:, 4], plane)
            dst = self._tile(Mem.SP, ins.dst, rows, blocks, "GELU dst")
            self.sp[dst] = out.reshape(-1, d)
        else:  # RESADD
            p = self._params(ins.param, 5, blocks, op.name)[:, :, None, :]
            self._shifts(p[:, 2], p[:, 4])
            wide = ins.f["res_wide"]
            res = self._tile(Mem.SP, ins.res, rows, blocks * (1 + wide), "RESADD res")
            r = self.sp[res].astype(np.int64).reshape(1 + wide, blocks, rows, d)
            r = numerics.join_planes(r[0], r[1]) if wide else r[0]
            out = numerics.resadd(x, p[:, 0], p[:, 1], p[:, 2], r, p[:, 3], p[:, 4])
            dst = self._tile(Mem.ACC, ins.dst, rows, blocks, "RESADD dst")
            self.acc[dst] = out.reshape(-1, d)

    def _layernorm(self, ins: Instruction) -> None:
        self._positive(ins, "rows", "blocks")
        rows, blocks, d = ins.rows, ins.blocks, self.dim
        plane = self._plane(ins)
        self._sram(Mem.ACC, ins.param, 1 + 2 * blocks, "LAYERNORM parameters")
        header = self.acc[ins.param].astype(np.int64)
        n_valid, shift = int(header[0]), int(header[1])
        if not 1 <= n_valid <= blocks * d:
            self._fail(ErrorCode.BAD_FIELD,
                       f"LAYERNORM n_valid={n_valid} outside [1, {blocks * d}]")
        self._shifts([shift])
        p = self.acc[ins.param + 1 : ins.param + 1 + 2 * blocks].astype(np.int64)
        p = p.reshape(blocks, 2, d)
        gamma = p[:, 0].reshape(-1)
        beta = p[:, 1].reshape(-1)
        src = self._tile(Mem.ACC, ins.src, rows, blocks, "LAYERNORM src")
        x = self.acc[src].astype(np.int64).reshape(blocks, rows, d).transpose(1, 0, 2)
        out = numerics.layernorm8(x.reshape(rows, blocks * d), n_valid, gamma, beta, shift,
                                  plane)
        dst = self._tile(Mem.SP, ins.dst, rows, blocks, "LAYERNORM dst")
        self.sp[dst] = out.reshape(rows, blocks, d).transpose(1, 0, 2).reshape(-1, d)

    def _attn(self, ins: Instruction) -> None:
        self._positive(ins, "seq", "hd_blocks")
        seq, hb, d = ins.seq, ins.hd_blocks, self.dim
        if seq > self.cfg.max_seq:
            self._fail(ErrorCode.BAD_FIELD, f"ATTN seq={seq} exceeds max_seq={self.cfg.max_seq}")
        kb = -(-seq // d)
        p_rows = attn_param_rows(seq, hb, d)
        self._sram(Mem.ACC, ins.param, p_rows, "ATTN parameters and mask")
        m_s, s_s = (int(v) for v in self.acc[ins.param, :2])
        out_p = self.acc[ins.param + 1 : ins.param + 1 + 2 * hb].astype(np.int64)
        out_p = out_p.reshape(hb, 2, d).transpose(1, 0, 2).reshape(2, hb * d)
        m_o, s_o = out_p[0], out_p[1]
        self._shifts([s_s], s_o)
        mask0 = ins.param + 1 + 2 * hb
        valid = (self.acc[mask0 : mask0 + kb].reshape(-1)[:seq] != 0)

        def tile(base: int, what: str) -> np.ndarray:
            sl = self._tile(Mem.SP, base, seq, hb, f"ATTN {what}")
            return self.sp[sl].reshape(hb, seq, d).transpose(1, 0, 2).reshape(seq, hb * d)

        q, k, v = tile(ins.q_addr, "Q"), tile(ins.k_addr, "K"), tile(ins.v_addr, "V")
        scores = _exact_matmul(q, k.T, _INT8_PROD)
        fixed = numerics.sat32(numerics.requant(scores, m_s, s_s))
        prob = numerics.softmax_rows(fixed, valid[None, :])
        o = _exact_matmul(prob, v, numerics.PROB_MAX * 128)
        out = numerics.sat8(numerics.requant(o, m_o, s_o))
        dst = self._tile(Mem.SP, ins.o_addr, seq, hb, "ATTN output")
        self.sp[dst] = out.reshape(seq, hb, d).transpose(1, 0, 2).reshape(-1, d)
        self.stats.macs += 2 * seq * kb * d * hb * d


def run_program(
    program: Program,
    inputs: dict[str, np.ndarray] | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[FunctionalSim, FunctionalStats]:
    """Write ``inputs`` (name -> [rows, cols] ints) into a fresh DRAM image and run the program."""
    sim = FunctionalSim(program)
    for name, value in (inputs or {}).items():
        program.write_tensor(sim.dram, name, value)
    stats = sim.run(progress=progress)
    return sim, stats
