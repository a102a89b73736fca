"""Seeded random programs for differential testing (functional simulator vs RTL).

``valid_program(cfg, seed)``: every opcode at least once, in random order and number, with random
shapes, SRAM addresses, DRAM addresses (unaligned, across 4 KiB boundaries) and strides
(0, packed, gapped, overlapping), int32 parameters over wide ranges with shifts in
``[0, MAX_SHIFT]``, and the dependency tokens the compiler's Emitter derives from the declared
accesses (plus random extra reads, so extra tokens). The program order is a valid sequential
schedule, so the RTL must leave DRAM byte-equal to the functional simulator's. Every program
starts by loading every SRAM row (the RTL's SRAMs are not cleared between programs).

``invalid_program(cfg, seed, kind)``: a valid prefix, one instruction failing check ``kind``
(one per check of docs/isa.md, ``INVALID`` maps each to its error code), then more valid
instructions that must not run. The functional simulator's code and index are the reference.

Replay one seed on the RTL: ``python -m tests.hw.randprog SEED [--dim D] [--invalid KIND]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler.emitter import ACC, DRAM, SP, Emitter
from isa import ErrorCode, MachineConfig, Mem, Opcode, Program, attn_param_rows
from isa.cycles import SHIFT_ROWS
from isa.fields import PARAM_ROWS_PER_BLOCK
from isa.numerics import MAX_SHIFT

SLOT_BYTES = 1536  # DRAM data slots: every LOAD / STORE stays inside one (exact Emitter ranges)
N_SLOTS = 6  # 9 KiB of data: slots 2 and 5 cross the 4 KiB boundaries
PARAM_BYTES = 8192  # parameter blocks after the data, each read once, never written
DRAM_SIZE = SLOT_BYTES * N_SLOTS + PARAM_BYTES
COMPUTE_OPS = (Opcode.GEMM, Opcode.REQUANT, Opcode.GELU, Opcode.RESADD, Opcode.LAYERNORM,
               Opcode.ATTN, Opcode.NOP)
ALL_OPS = (Opcode.LOAD, Opcode.STORE, *COMPUTE_OPS)
B, S, D = ErrorCode.BAD_FIELD, ErrorCode.SRAM_RANGE, ErrorCode.DRAM_RANGE
#: Every check of docs/isa.md (ILLEGAL_OPCODE words: tests/hw/test_fuzz_rtl.py) and its code.
INVALID = {
    **{f"{o}.{k}": c for o in ("load", "store") for k, c in
       (("rows0", B), ("cols0", B), ("cols_gt_dim", B), ("sram", S), ("dram", D))},
    **{f"gemm.{k}": c for k, c in (("rows0", B), ("kblocks0", B), ("a", S), ("w", S),
                                    ("c", S))},
    **{f"{o}.{k}": c for o in ("requant", "gelu", "resadd") for k, c in
       (("rows0", B), ("blocks0", B), ("src", S), ("param", S), ("shift", B), ("dst", S))},
    "resadd.res": S, "resadd.res_wide": S,
    **{f"{o}.plane": B for o in ("requant", "gelu", "layernorm")},
    **{f"layernorm.{k}": c for k, c in (("rows0", B), ("blocks0", B), ("param", S),
                                         ("n_valid0", B), ("n_valid_big", B), ("shift", B),
                                         ("src", S), ("dst", S))},
    **{f"attn.{k}": c for k, c in (("seq0", B), ("hd0", B), ("seq_gt_max", B), ("param", S),
                                    ("shift", B), ("q", S), ("k", S), ("v", S), ("o", S))},
    "dep.load_pop_prev": ErrorCode.DEPENDENCY, "dep.store_push_next": ErrorCode.DEPENDENCY,
    "dep.underflow": ErrorCode.DEPENDENCY,
}


@dataclass
class RandomProgram:
    seed: int
    kind: str  # "valid" or a key of INVALID
    program: Program
    bad_index: int | None  # the failing instruction (invalid programs)

    def replay(self) -> str:
        extra = "" if self.kind == "valid" else f" --invalid {self.kind}"
        return (f"python -m tests.hw.randprog {self.seed} --dim {self.program.config.dim}"
                f"{extra}")


class _Gen:
    def __init__(self, cfg: MachineConfig, seed: int):
        self.cfg, self.d = cfg, cfg.dim
        self.rng = np.random.default_rng(seed)
        self.em = Emitter()
        self.dram = np.zeros(DRAM_SIZE, dtype=np.uint8)
        self.dram[: SLOT_BYTES * N_SLOTS] = self.rng.integers(0, 256, SLOT_BYTES * N_SLOTS)
        self.param_top = SLOT_BYTES * N_SLOTS
        self.rows_max = 3 * self.d + 3

    def i(self, lo: int, hi: int) -> int:  # inclusive
        return int(self.rng.integers(lo, hi + 1))

    def tile(self, mem: Mem, rows: int) -> int:
        limit = self.cfg.sp_rows if mem == Mem.SP else self.cfg.acc_rows
        return self.i(0, limit - rows)

    def extra(self) -> tuple:
        """A random extra read (an extra dependency token when it overlaps an older write)."""
        if self.rng.random() >= 0.2:
            return ()
        mem = Mem(self.i(0, 1))
        n = self.i(1, 16)
        a = self.tile(mem, n)
        return ((SP if mem == Mem.SP else ACC, a, a + n),)

    def emit(self, op: Opcode, reads=(), writes=(), **f) -> int:
        return self.em.emit(op, reads=tuple(reads) + self.extra(), writes=tuple(writes), **f)

    # -- DMA -----------------------------------------------------------------------------------
    def dma_fields(self, op: Opcode) -> dict:
        mem = Mem(self.i(0, 1))
        esize = 4 if mem == Mem.ACC else 1
        cols = self.i(1, self.d)
        nb = cols * esize
        rows = self.i(1, self.rows_max)
        stride = int(self.rng.choice([0, nb, self.i(1, 3 * nb), 16 * self.i(1, 4)]))
        if op == Opcode.STORE and stride < nb and rows > 1:
            stride = nb + self.i(0, 8)  # overlapping STORE rows: the last one wins either way
        while (rows - 1) * stride + nb > SLOT_BYTES:
            rows = max(1, rows // 2)
        span = (rows - 1) * stride + nb
        slot = self.i(0, N_SLOTS - 1) * SLOT_BYTES
        return {"mem": mem, "sram_addr": self.tile(mem, rows), "rows": rows, "cols": cols,
                "dram_addr": slot + self.i(0, SLOT_BYTES - span), "dram_stride": stride,
                "_slot": slot}

    def dma(self, op: Opcode, f: dict | None = None) -> int:
        f = dict(f or self.dma_fields(op))
        slot = f.pop("_slot")
        sram = (SP if f["mem"] == Mem.SP else ACC, f["sram_addr"], f["sram_addr"] + f["rows"])
        ext = (DRAM, slot, slot + SLOT_BYTES)
        if op == Opcode.LOAD:
            return self.emit(op, reads=[ext], writes=[sram], **f)
        return self.emit(op, reads=[sram], writes=[ext], **f)

    def load_params(self, rows: np.ndarray, acc_addr: int) -> None:
        """LOAD int32 rows [n, DIM] (crafted parameters) into ACC at ``acc_addr``."""
        raw = np.ascontiguousarray(rows, dtype="<i4").tobytes()
        addr = self.param_top + self.i(0, 3) * 4
        if addr + len(raw) > DRAM_SIZE:
            raise AssertionError("randprog: the parameter region is full")
        self.dram[addr: addr + len(raw)] = np.frombuffer(raw, dtype=np.uint8)
        self.param_top = addr + len(raw)
        n = len(rows)
        self.emit(Opcode.LOAD, reads=[(DRAM, addr, addr + len(raw))],
                  writes=[(ACC, acc_addr, acc_addr + n)], mem=Mem.ACC, sram_addr=acc_addr,
                  rows=n, cols=self.d, dram_addr=addr, dram_stride=4 * self.d)

    def wide(self, n: int) -> np.ndarray:
        """n int32 lanes: mostly moderate, sometimes over the whole int32 range."""
        big = self.rng.random() < 0.3
        lim = 1 << (31 if big else 16)
        return self.rng.integers(-lim, lim, size=(n, self.d))

    def shifts(self, n: int) -> np.ndarray:
        return self.rng.integers(0, MAX_SHIFT + 1, size=(n, self.d))

    # -- compute -------------------------------------------------------------------------------
    def gemm_fields(self) -> dict:
        rows, kb = self.i(1, self.rows_max), self.i(1, 3)
        a_stride = self.i(0, 2 * rows)
        span = (kb - 1) * a_stride + rows
        return {"accumulate": self.i(0, 1), "a_addr": self.tile(Mem.SP, span),
                "a_stride": a_stride, "w_addr": self.tile(Mem.SP, kb * self.d),
                "c_addr": self.tile(Mem.ACC, rows), "rows": rows, "kblocks": kb,
                "shift8": self.i(0, 1)}

    def gemm(self, f: dict | None = None) -> int:
        f = f or self.gemm_fields()
        span = (f["kblocks"] - 1) * f["a_stride"] + f["rows"]
        c = (ACC, f["c_addr"], f["c_addr"] + f["rows"])
        reads = [(SP, f["a_addr"], f["a_addr"] + span),
                 (SP, f["w_addr"], f["w_addr"] + f["kblocks"] * self.d)]
        return self.emit(Opcode.GEMM, reads=reads + ([c] if f["accumulate"] else []),
                         writes=[c], **f)

    def vector_params(self, op: Opcode, blocks: int, bad_shift: bool = False) -> np.ndarray:
        per = PARAM_ROWS_PER_BLOCK[op]
        if op == Opcode.LAYERNORM:
            head = np.zeros((1, self.d), dtype=np.int64)
            head[0, :2] = self.i(1, blocks * self.d), self.i(0, MAX_SHIFT)
            rows = np.concatenate([head, self.rng.integers(-(1 << 12), 1 << 12,
                                                           size=(per * blocks, self.d))])
            return rows
        rows = self.wide(per * blocks)
        for j in range(blocks):
            for s in SHIFT_ROWS[op]:
                rows[per * j + s] = self.shifts(1)[0]
        if bad_shift:
            j, s = self.i(0, blocks - 1), int(self.rng.choice(SHIFT_ROWS[op]))
            rows[per * j + s, self.i(0, self.d - 1)] = int(self.rng.choice(
                [MAX_SHIFT + 1, -1, 1 << 20]))
        return rows

    def vector_fields(self, op: Opcode) -> dict:
        rows, blocks = self.i(1, self.rows_max), self.i(1, 3)
        n = rows * blocks
        nparam = PARAM_ROWS_PER_BLOCK[op] * blocks + (op == Opcode.LAYERNORM)
        src = self.tile(Mem.ACC, n)
        f = {"src": src, "rows": rows, "blocks": blocks, "param": self.tile(Mem.ACC, nparam)}
        if op == Opcode.RESADD:  # its ACC result must not overwrite its parameters
            f["param"] = self._free_acc(nparam, [(src, n)])
            f["res_wide"] = self.i(0, 1)  # a 16-bit residual: both planes, 2n rows
            f["res"] = self.tile(Mem.SP, n * (1 + f["res_wide"]))
            other = self._free_acc(n, [(src, n), (f["param"], nparam)])
            f["dst"] = src if other is None or self.rng.random() < 0.5 else other
        else:
            f["dst"] = self.tile(Mem.SP, n)
            f["plane"] = self.i(0, 2)  # INT8, or the HIGH / LOW plane of the 16-bit result
        return f

    def _free_acc(self, n: int, used: list[tuple[int, int]]) -> int | None:
        """An ACC tile of n rows overlapping none of ``used`` (None if none is found)."""
        for _ in range(1000):
            a = self.tile(Mem.ACC, n)
            if all(a + n <= lo or lo + m <= a for lo, m in used):
                return a
        return None

    def vector(self, op: Opcode, f: dict | None = None, params: np.ndarray | None = None) -> int:
        f = f or self.vector_fields(op)
        n = f["rows"] * f["blocks"]
        p = self.vector_params(op, f["blocks"]) if params is None else params
        self.load_params(p, f["param"])
        reads = [(ACC, f["src"], f["src"] + n), (ACC, f["param"], f["param"] + len(p))]
        if op == Opcode.RESADD:
            reads.append((SP, f["res"], f["res"] + n * (1 + f["res_wide"])))
            writes = [(ACC, f["dst"], f["dst"] + n)]
        else:
            writes = [(SP, f["dst"], f["dst"] + n)]
        return self.emit(op, reads=reads, writes=writes, **f)

    def attn_fields(self) -> dict:
        seq, hb = self.i(1, 2 * self.d + 3), self.i(1, 2)
        n = seq * hb
        f = {"seq": seq, "hd_blocks": hb,
             "param": self.tile(Mem.ACC, attn_param_rows(seq, hb, self.d))}
        for a in ("q_addr", "k_addr", "v_addr"):
            f[a] = self.tile(Mem.SP, n)
        for _ in range(100):  # the output overlaps none of Q, K, V
            o = self.tile(Mem.SP, n)
            if all(o + n <= f[a] or f[a] + n <= o for a in ("q_addr", "k_addr", "v_addr")):
                break
        f["o_addr"] = o
        return f

    def attn_params(self, seq: int, hb: int, bad_shift: bool = False) -> np.ndarray:
        d = self.d
        rows = np.zeros((attn_param_rows(seq, hb, d), d), dtype=np.int64)
        rows[0, :2] = self.i(1, 1 << 20), self.i(8, 24)
        for j in range(hb):
            rows[1 + 2 * j] = self.rng.integers(1, 1 << 22, size=d)
            rows[2 + 2 * j] = self.rng.integers(16, 40, size=d)
        rows[1 + 2 * hb:] = self.rng.random(size=rows[1 + 2 * hb:].shape) < 0.7
        if bad_shift:
            r = 0 if self.rng.random() < 0.3 else 2 + 2 * self.i(0, hb - 1)
            rows[r, 1 if r == 0 else self.i(0, d - 1)] = int(self.rng.choice([MAX_SHIFT + 1, -3]))
        return rows

    def attn(self, f: dict | None = None, params: np.ndarray | None = None) -> int:
        f = f or self.attn_fields()
        n = f["seq"] * f["hd_blocks"]
        p = self.attn_params(f["seq"], f["hd_blocks"]) if params is None else params
        self.load_params(p, f["param"])
        reads = [(SP, f[a], f[a] + n) for a in ("q_addr", "k_addr", "v_addr")]
        reads.append((ACC, f["param"], f["param"] + len(p)))
        return self.emit(Opcode.ATTN, reads=reads, writes=[(SP, f["o_addr"], f["o_addr"] + n)],
                         **f)

    def random_op(self, op: Opcode) -> int:
        if op in (Opcode.LOAD, Opcode.STORE):
            return self.dma(op)
        if op == Opcode.GEMM:
            return self.gemm()
        if op == Opcode.ATTN:
            return self.attn()
        if op == Opcode.NOP:
            return self.emit(Opcode.NOP)
        return self.vector(op)

    def fill_srams(self) -> None:
        """LOAD data into every SRAM row first: the functional simulator starts from zeros,
        the RTL from whatever its SRAMs hold (the previous program's data)."""
        data = SLOT_BYTES * N_SLOTS
        for mem, limit, esize in ((Mem.SP, self.cfg.sp_rows, 1), (Mem.ACC, self.cfg.acc_rows, 4)):
            nb = self.d * esize
            chunk = min(limit, data // nb)
            for lo in range(0, limit, chunk):
                rows = min(chunk, limit - lo)
                slots = [(DRAM, s, s + SLOT_BYTES) for s in range(0, rows * nb, SLOT_BYTES)]
                self.emit(Opcode.LOAD, reads=slots,
                          writes=[(SP if mem == Mem.SP else ACC, lo, lo + rows)], mem=mem,
                          sram_addr=lo, rows=rows, cols=self.d, dram_addr=0, dram_stride=nb)

    def random_ops(self, n: int, every: bool) -> None:
        ops = list(ALL_OPS) if every else []
        ops += [ALL_OPS[self.i(0, len(ALL_OPS) - 1)] for _ in range(n)]
        self.rng.shuffle(ops)
        for op in ops:
            self.random_op(op)

    def program(self) -> Program:
        return Program(config=self.cfg, instructions=self.em.finish(),
                       dram_init=self.dram.tobytes(), dram_size=DRAM_SIZE)


def valid_program(cfg: MachineConfig, seed: int, extra_ops: int = 12) -> RandomProgram:
    g = _Gen(cfg, seed)
    g.fill_srams()
    g.random_ops(g.i(0, extra_ops), every=True)
    return RandomProgram(seed, "valid", g.program(), None)


def invalid_program(cfg: MachineConfig, seed: int, kind: str) -> RandomProgram:
    if kind not in INVALID:
        raise ValueError(f"unknown check {kind!r}: expected one of {', '.join(INVALID)}")
    g = _Gen(cfg, seed)
    g.fill_srams()
    g.random_ops(g.i(0, 6), every=False)
    bad = _emit_bad(g, kind)
    if kind != "dep.underflow":  # later pops could make the Emitter add an earlier push
        g.random_ops(g.i(1, 4), every=False)
    return RandomProgram(seed, kind, g.program(), bad)


def _emit_bad(g: _Gen, kind: str) -> int:
    """Emit one instruction that fails check ``kind`` (the checks before it pass)."""
    what, check = kind.split(".")
    cfg, d = g.cfg, g.d
    if what in ("load", "store"):
        op = Opcode.LOAD if what == "load" else Opcode.STORE
        f = g.dma_fields(op)
        limit = cfg.sp_rows if f["mem"] == Mem.SP else cfg.acc_rows
        esize = 4 if f["mem"] == Mem.ACC else 1
        if check == "rows0":
            f["rows"] = 0
        elif check == "cols0":
            f["cols"] = 0
        elif check == "cols_gt_dim":
            f["cols"] = g.i(d + 1, 255)
        elif check == "sram":
            f["sram_addr"] = g.i(limit - f["rows"] + 1, limit + 50)
        else:
            span = (f["rows"] - 1) * f["dram_stride"] + f["cols"] * esize
            f["dram_addr"] = g.i(DRAM_SIZE - span + 1, DRAM_SIZE + 4096)
        f.pop("_slot")
        return g.em.emit(op, **f)
    if what == "gemm":
        f = g.gemm_fields()
        if check in ("rows0", "kblocks0"):
            f["rows" if check == "rows0" else "kblocks"] = 0
        elif check == "a":
            f["a_addr"] = cfg.sp_rows - f["rows"] + g.i(1, 20)
        elif check == "w":
            f["w_addr"] = cfg.sp_rows - f["kblocks"] * d + g.i(1, 20)
        else:
            f["c_addr"] = cfg.acc_rows - f["rows"] + g.i(1, 20)
        return g.em.emit(Opcode.GEMM, **f)
    if what == "dep":
        if check == "load_pop_prev":
            f = g.dma_fields(Opcode.LOAD)
            f.pop("_slot")
            return g.em.emit(Opcode.LOAD, pop_prev=1, **f)
        if check == "store_push_next":
            f = g.dma_fields(Opcode.STORE)
            f.pop("_slot")
            return g.em.emit(Opcode.STORE, push_next=1, **f)
        return _underflow(g)
    op = {"requant": Opcode.REQUANT, "gelu": Opcode.GELU, "resadd": Opcode.RESADD,
          "layernorm": Opcode.LAYERNORM, "attn": Opcode.ATTN}[what]
    if op == Opcode.ATTN:
        f = g.attn_fields()
        n = f["seq"] * f["hd_blocks"]
        p = g.attn_params(f["seq"], f["hd_blocks"], bad_shift=check == "shift")
        field = {"seq0": "seq", "hd0": "hd_blocks", "q": "q_addr", "k": "k_addr",
                 "v": "v_addr", "o": "o_addr"}.get(check)
        if check in ("seq0", "hd0"):
            f[field] = 0
        elif check == "seq_gt_max":
            f["seq"] = g.i(cfg.max_seq + 1, 4095)
        elif check == "param":
            f["param"] = cfg.acc_rows - len(p) + g.i(1, 10)
        elif field:
            f[field] = cfg.sp_rows - n + g.i(1, 10)
        if check in ("seq0", "hd0", "seq_gt_max", "param"):
            return g.em.emit(Opcode.ATTN, **f)
        g.load_params(p, f["param"])  # the checks after the data check read it: wait for it
        return g.em.emit(Opcode.ATTN, reads=[(ACC, f["param"], f["param"] + len(p))], **f)
    f = g.vector_fields(op)
    n = f["rows"] * f["blocks"]
    p = g.vector_params(op, f["blocks"], bad_shift=check == "shift")
    if check == "n_valid0":
        p[0, 0] = 0
    elif check == "n_valid_big":
        p[0, 0] = f["blocks"] * d + g.i(1, 50)
    elif op == Opcode.LAYERNORM and check == "shift":
        p[0, 1] = int(g.rng.choice([MAX_SHIFT + 1, -1]))
    if check in ("rows0", "blocks0"):
        f["rows" if check == "rows0" else "blocks"] = 0
    elif check == "src":
        f["src"] = cfg.acc_rows - n + g.i(1, 10)
    elif check == "param":
        f["param"] = cfg.acc_rows - len(p) + g.i(1, 10)
    elif check == "res":
        f["res"] = cfg.sp_rows - n * (1 + f["res_wide"]) + g.i(1, 10)
    elif check == "res_wide":  # the high plane fits, the low plane after it does not
        f["res_wide"], f["res"] = 1, cfg.sp_rows - 2 * n + g.i(1, min(10, n))
    elif check == "plane":
        f["plane"] = 3
    elif check == "dst":
        f["dst"] = (cfg.acc_rows if op == Opcode.RESADD else cfg.sp_rows) - n + g.i(1, 10)
    if check in ("rows0", "blocks0", "param", "plane") or (check == "src"
                                                           and op != Opcode.LAYERNORM):
        return g.em.emit(op, **f)  # fails before it reads any data
    g.load_params(p, f["param"])  # the data check reads it: wait for the LOAD
    return g.em.emit(op, reads=[(ACC, f["param"], f["param"] + len(p))], **f)


def _underflow(g: _Gen) -> int:
    """A pop with no unconsumed push before it: the Emitter pairs every push with a pop as it
    emits, so every channel is balanced at any point of its program."""
    kind = g.i(0, 3)
    if kind < 2:
        return g.em.emit(Opcode.NOP, **{("pop_prev", "pop_next")[kind]: 1})
    op = Opcode.STORE if kind == 2 else Opcode.LOAD
    f = g.dma_fields(op)
    f.pop("_slot")
    return g.em.emit(op, **{("pop_prev" if op == Opcode.STORE else "pop_next"): 1}, **f)


# -- running them --------------------------------------------------------------------------
def reference(rp: RandomProgram):
    """The functional simulator's DRAM after the run (or at the error), code and index."""
    from sim.errors import SimError
    from sim.functional import FunctionalSim

    fs = FunctionalSim(rp.program)
    try:
        fs.run()
    except SimError as e:
        return fs.dram, e.code, e.index
    return fs.dram, ErrorCode.NONE, None


def fixed_latency(rp: RandomProgram) -> bool:
    """Even seeds run on the fixed-latency DRAM (cycles checked against the timing model), odd
    ones with random latency and back-pressure."""
    return rp.seed % 2 == 0


def rtl_job(rp: RandomProgram):
    from hw.rtlsim.runner import RtlJob

    dram = rp.program.new_dram()
    if fixed_latency(rp):
        return RtlJob.fixed(rp.program, dram, max_cycles=1_000_000)
    return RtlJob(rp.program, dram, seed=rp.seed, latency=(4, 40), ready_prob=0.7,
                  max_cycles=1_000_000)


def problems(rp: RandomProgram, res) -> list[str]:
    """What the RTL result ``res`` gets wrong against the functional simulator (and, for a
    valid program on the fixed-latency DRAM, the timing model), each naming the seed."""
    import sim.timing

    regs, out = res.regs, []
    dram, code, index = reference(rp)
    if regs["timed_out"]:
        out.append("the RTL did not finish")
    got = ErrorCode(regs["error"])
    if got != code or (code != ErrorCode.NONE and regs["error_index"] != index):
        out.append(f"RTL {got.name} at {regs['error_index']}, functional simulator "
                   f"{code.name} at {index}")
    diff = np.flatnonzero(res.dram != dram)
    if diff.size:
        out.append(f"DRAM differs in {diff.size} bytes, first at {diff[:8].tolist()}")
    if code == ErrorCode.NONE and fixed_latency(rp):
        model = sim.timing.estimate(rp.program).cycles
        if regs["cycles"] != model:
            out.append(f"RTL {regs['cycles']} cycles, timing model {model}")
    return [f"randprog seed {rp.seed} ({rp.kind}, DIM {rp.program.config.dim}): {p}; replay: "
            f"{rp.replay()}" for p in out]


def run_on_rtl(cases: list[RandomProgram], workdir=None) -> list[str]:
    """Run ``cases`` (one machine) in one simulator process; every problem found."""
    from hw.rtlsim.runner import run_jobs

    results = run_jobs(cases[0].program.config, [rtl_job(rp) for rp in cases], workdir=workdir)
    return [p for rp, res in zip(cases, results, strict=True) for p in problems(rp, res)]


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - replay tool
    import argparse

    from .rtl_cases import small_config

    p = argparse.ArgumentParser(description="replay one random program on the RTL")
    p.add_argument("seed", type=int)
    p.add_argument("--dim", type=int, default=4)
    p.add_argument("--invalid", metavar="KIND", help=f"one of {', '.join(INVALID)}")
    p.add_argument("--show", action="store_true", help="print the instructions")
    args = p.parse_args(argv)
    cfg = small_config(args.dim)
    rp = (invalid_program(cfg, args.seed, args.invalid) if args.invalid
          else valid_program(cfg, args.seed))
    if args.show:
        for i, ins in enumerate(rp.program.instructions):
            print(i, ins)
    found = run_on_rtl([rp])
    print("\n".join(found) if found else f"seed {args.seed}: the RTL agrees")
    return 1 if found else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
