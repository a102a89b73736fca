"""A hand-built program with 16-bit activations (ISA version 2) for the RTL tests: the compiler
does not emit the new fields yet (another piece of work), so the program is written here.

``wide_program(cfg, seed)``: a 16-bit activation X [m, kb*DIM] (two int8 planes) times int8
weights W, as two-pass GEMMs (high plane ``shift8 = 1``, then the low plane ``accumulate =
1``) per output block; from that accumulator tile C:

* REQUANT to a 16-bit tile Y1 (plane HIGH at y1, LOW at y1 + blocks*rows), then a second
  16-bit GEMM reading Y1 as its A operand, and a REQUANT (plane INT8) of that to Y4;
* GELU to the three planes (HIGH, LOW, INT8) of Y2;
* RESADD of C with the 16-bit residual R (``res_wide``: both planes read in one cycle) into
  the accumulator, then LAYERNORM of that to the three planes of Y3.

The scratchpad outputs and the accumulator tiles are stored to DRAM, so a run is compared with
the functional simulator byte for byte. ``meta`` holds the addresses the tests need.
"""

from __future__ import annotations

import numpy as np

from isa import Instruction, MachineConfig, Mem, Opcode, Plane, Program, numerics

M, KB, NB = 6, 2, 2  # rows; K-blocks of X; output blocks (KB == NB: W's first tile serves twice)


def _sp_rows(x: np.ndarray, d: int) -> np.ndarray:
    """[rows, blocks*d] -> scratchpad tile rows (block j row i at j*rows + i)."""
    rows, cols = x.shape
    return x.reshape(rows, cols // d, d).transpose(1, 0, 2).reshape(-1, d)


def wide_program(cfg: MachineConfig, seed: int = 0):
    """(program, meta); see the module docstring."""
    d = cfg.dim
    rng = np.random.default_rng(seed)
    k, n = KB * d, NB * d
    x = rng.integers(numerics.WIDE_MIN, numerics.WIDE_MAX + 1, (M, k))
    x[0, 0], x[-1, -1] = numerics.WIDE_MIN, numerics.WIDE_MAX
    w = rng.integers(-128, 128, (k, n))
    r = rng.integers(numerics.WIDE_MIN, numerics.WIDE_MAX + 1, (M, n))
    r[0, 0], r[-1, -1] = numerics.WIDE_MIN, numerics.WIDE_MAX
    xh, xl = numerics.split_planes(x)
    rh, rl = numerics.split_planes(r)
    # Scratchpad inputs: X's planes, W (output block j: its kb*d K-major rows), R's planes.
    w_tiles = np.concatenate([w[:, j * d:(j + 1) * d] for j in range(NB)])
    sp_in = np.concatenate([_sp_rows(xh, d), _sp_rows(xl, d), w_tiles, _sp_rows(rh, d),
                            _sp_rows(rl, d)])
    a_at, w_at = 0, 2 * KB * M
    r_at = w_at + NB * KB * d
    t = NB * M  # rows of one plane of an n-wide tile
    # Accumulator: C at 0, RESADD's result at c2, the second GEMM's at c3, parameters at par.
    c2, c3 = t, 2 * t
    c3_rows = M  # the second GEMM: one output block (W's first tile, K = n)
    pq, pg, pr, pl, pq2 = 0, 3 * NB, 8 * NB, 13 * NB, 13 * NB + 1 + 2 * NB
    n_par = pq2 + 3
    par = c3 + c3_rows

    def lanes(*values):
        return np.broadcast_to(np.array(values, dtype=np.int64), (d,)).copy()

    params = np.zeros((n_par, d), dtype=np.int64)
    alt = np.where(np.arange(d) % 2 == 0, 1, -1)
    for j in range(NB):
        params[pq + 3 * j: pq + 3 * j + 3] = [rng.integers(-1000, 1000, d), lanes(1),
                                              rng.integers(7, 10, d)]
        params[pg + 5 * j: pg + 5 * j + 5] = [lanes(0), lanes(1), lanes(7), alt, lanes(0)]
        params[pr + 5 * j: pr + 5 * j + 5] = [rng.integers(-1000, 1000, d), lanes(1), lanes(6),
                                              lanes(3), lanes(1)]
    n_valid = n - 1
    params[pl, :2] = n_valid, 10
    gamma = rng.integers(1 << 8, 1 << 12, n) * rng.choice([-1, 1], n)
    beta = rng.integers(-(1 << 15), 1 << 15, n)
    gamma[n_valid:], beta[n_valid:] = 0, 0  # as the compiler sets them past n_valid
    for j in range(NB):
        params[pl + 1 + 2 * j] = gamma[j * d:(j + 1) * d]
        params[pl + 2 + 2 * j] = beta[j * d:(j + 1) * d]
    params[pq2: pq2 + 3] = [lanes(0), lanes(1), lanes(16)]

    # Scratchpad outputs: Y1 (2 planes), Y2 (3), Y3 (3), Y4 (int8, one block), contiguous.
    y1 = r_at + 2 * t
    y2 = y1 + 2 * t
    y3 = y2 + 3 * t
    y4 = y3 + 3 * t
    out_rows = y4 + c3_rows - y1
    acc_out_rows = c3 + c3_rows

    # DRAM: scratchpad inputs, parameters, then the two output regions.
    sp_bytes, row_acc = len(sp_in) * d, 4 * d
    par_addr = -(-sp_bytes // 64) * 64
    out_addr = par_addr + -(-n_par * row_acc // 64) * 64
    acc_addr = out_addr + -(-out_rows * d // 64) * 64
    dram_size = acc_addr + acc_out_rows * row_acc
    init = np.zeros(out_addr, dtype=np.uint8)
    init[:sp_bytes] = np.frombuffer(sp_in.astype("i1").tobytes(), dtype=np.uint8)
    pb = params.astype("<i4").tobytes()
    init[par_addr: par_addr + len(pb)] = np.frombuffer(pb, dtype=np.uint8)

    vec = dict(rows=M, blocks=NB)
    ins = [
        Instruction(Opcode.LOAD, mem=Mem.SP, sram_addr=0, rows=len(sp_in), cols=d, dram_addr=0,
                    dram_stride=d),
        Instruction(Opcode.LOAD, mem=Mem.ACC, sram_addr=par, rows=n_par, cols=d,
                    dram_addr=par_addr, dram_stride=row_acc, push_next=1),
    ]
    for j in range(NB):  # C = X @ W: the high plane << 8, then the low plane accumulated
        g = dict(a_stride=M, w_addr=w_at + j * KB * d, c_addr=j * M, rows=M, kblocks=KB)
        ins.append(Instruction(Opcode.GEMM, a_addr=a_at, shift8=1, **g))
        ins.append(Instruction(Opcode.GEMM, a_addr=a_at + KB * M, accumulate=1, **g))
    ins[2] = ins[2].with_deps(pop_prev=1)
    ins += [
        Instruction(Opcode.REQUANT, src=0, dst=y1, param=par + pq, plane=Plane.HIGH, **vec),
        Instruction(Opcode.REQUANT, src=0, dst=y1 + t, param=par + pq, plane=Plane.LOW, **vec),
        # Y1 (16-bit, K = n) @ W's first tile: the planes of a computed 16-bit tile as A.
        Instruction(Opcode.GEMM, a_addr=y1, a_stride=M, w_addr=w_at, c_addr=c3, rows=M,
                    kblocks=NB, shift8=1),
        Instruction(Opcode.GEMM, a_addr=y1 + t, a_stride=M, w_addr=w_at, c_addr=c3, rows=M,
                    kblocks=NB, accumulate=1),
        Instruction(Opcode.REQUANT, src=c3, dst=y4, rows=M, blocks=1, param=par + pq2),
    ]
    for p, plane in enumerate((Plane.HIGH, Plane.LOW, Plane.INT8)):
        ins.append(Instruction(Opcode.GELU, src=0, dst=y2 + p * t, param=par + pg, plane=plane,
                               **vec))
    ins.append(Instruction(Opcode.RESADD, src=0, res=r_at, dst=c2, param=par + pr, res_wide=1,
                           **vec))
    for p, plane in enumerate((Plane.HIGH, Plane.LOW, Plane.INT8)):
        ins.append(Instruction(Opcode.LAYERNORM, src=c2, dst=y3 + p * t, param=par + pl,
                               plane=plane, **vec))
    ins[-1] = ins[-1].with_deps(push_next=1)
    ins += [
        Instruction(Opcode.STORE, mem=Mem.SP, sram_addr=y1, rows=out_rows, cols=d,
                    dram_addr=out_addr, dram_stride=d, pop_prev=1),
        Instruction(Opcode.STORE, mem=Mem.ACC, sram_addr=0, rows=acc_out_rows, cols=d,
                    dram_addr=acc_addr, dram_stride=row_acc),
    ]
    prog = Program(config=cfg, instructions=ins, dram_init=init.tobytes(), dram_size=dram_size,
                   meta={"kind": "wide"})
    meta = {"x": x, "w": w, "r": r, "t": t, "out_addr": out_addr, "acc_addr": acc_addr,
            "y1": y1, "y2": y2, "y3": y3, "y4": y4, "c2": c2, "c3": c3, "r_at": r_at}
    return prog, meta


def sp_out(prog: Program, dram: np.ndarray, meta: dict, at: int, rows: int) -> np.ndarray:
    """Scratchpad rows [at, at + rows) as stored by the program (int64 [rows, DIM])."""
    d = prog.config.dim
    start = meta["out_addr"] + (at - meta["y1"]) * d
    return dram[start: start + rows * d].view(np.int8).reshape(rows, d).astype(np.int64)


def acc_out(prog: Program, dram: np.ndarray, meta: dict, at: int, rows: int) -> np.ndarray:
    d = prog.config.dim
    start = meta["acc_addr"] + at * 4 * d
    return dram[start: start + rows * 4 * d].view("<i4").reshape(rows, d).astype(np.int64)


def wide_outputs(prog: Program, dram: np.ndarray, meta: dict) -> dict:
    """The 16-bit outputs Y1, Y2, Y3 (joined planes, tile rows) and the int8 ones."""
    t = meta["t"]
    out = {}
    for name, planes in (("y1", 2), ("y2", 3), ("y3", 3)):
        at = meta[name]
        out[name] = numerics.join_planes(sp_out(prog, dram, meta, at, t),
                                         sp_out(prog, dram, meta, at + t, t))
        if planes == 3:
            out[name + "_int8"] = sp_out(prog, dram, meta, at + 2 * t, t)
    out["c"] = acc_out(prog, dram, meta, 0, t)
    out["c3"] = acc_out(prog, dram, meta, meta["c3"], M)
    return out
