"""The ISA version 2 fields on the compute engines alone, in the Amaranth simulator, against the
functional simulator (same SRAM contents before, every SRAM row equal after): GEMM ``shift8``
(the two-pass 16-bit GEMM, int32 wrap); REQUANT, GELU and LAYERNORM ``plane`` 0 / 1 / 2 with
results saturating at both ends of the 16-bit range; RESADD ``res_wide`` (residuals at
WIDE_MIN / WIDE_MAX, both planes read in the same cycle); unchanged cycle counts
(isa.cycles); the wide residual's range check (both planes) and the word checks (``plane ==
3`` BAD_FIELD right after ``rows, blocks >= 1``), evaluated in the Amaranth simulator."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from hw.gemm import GemmUnit
from hw.sram import staged_read_port
from hw.vector import GeluEngine, LayerNormEngine, RequantEngine, ResaddEngine
from isa import ErrorCode, Instruction, MachineConfig, Opcode, Plane, Program, numerics
from isa.cycles import check_cycles, gemm_cycles, layernorm_cycles, vector_cycles
from sim import FunctionalSim, SimError

from .vector_bench import pack, run_engine, unpack

I32 = (numerics.INT32_MIN, numerics.INT32_MAX + 1)
WMIN, WMAX = numerics.WIDE_MIN, numerics.WIDE_MAX
ENGINE = {Opcode.REQUANT: RequantEngine, Opcode.GELU: GeluEngine, Opcode.RESADD: ResaddEngine,
          Opcode.LAYERNORM: LayerNormEngine, Opcode.GEMM: GemmUnit}


def _cfg(dim):
    return MachineConfig(dim=dim, sp_kib=1, acc_kib=4)  # DIM 4: 256 SP rows, 256 ACC rows


def _reference(cfg, instructions, sp0, acc0):
    """The functional simulator's SRAMs after ``instructions`` from ``sp0`` / ``acc0``."""
    sim = FunctionalSim(Program(config=cfg, instructions=list(instructions), dram_init=b"",
                                dram_size=256))
    sim.sp[:] = sp0
    sim.acc[:] = acc0
    sim.run()
    return sim.sp.astype(np.int64), sim.acc.astype(np.int64)


def _joined(out, dst, n, blocks_rows):
    """The 16-bit values of a result written as its high plane at dst, low at dst + n."""
    return numerics.join_planes(out[dst: dst + n], out[dst + blocks_rows: dst + blocks_rows + n])


def _covers_wide_range(v):
    """Both saturation ends and values strictly inside the 16-bit range beyond int8."""
    inside = (np.abs(v) > 127) & (v > WMIN) & (v < WMAX)
    return (v == WMAX).any() and (v == WMIN).any() and inside.sum() >= 3


# -- GEMM shift8 -------------------------------------------------------------------------------

def _run_gemms(cfg, sp0, acc0, instructions):
    """The GEMM engine on ``instructions`` one after another; (busy cycles each, final ACC)."""
    d = cfg.dim
    m = Module()
    m.submodules.sp = sp = Memory(shape=8 * d, depth=cfg.sp_rows, init=[pack(r, 8) for r in sp0])
    m.submodules.acc = acc = Memory(shape=32 * d, depth=cfg.acc_rows,
                                    init=[pack(r, 32) for r in acc0])
    m.submodules.gemm = gemm = GemmUnit.from_config(cfg)
    wiring.connect(m, gemm.a_rd, staged_read_port(m, sp, "a_rd"))
    wiring.connect(m, gemm.w_rd, staged_read_port(m, sp, "w_rd"))
    wiring.connect(m, gemm.acc_rd, staged_read_port(m, acc, "acc_rd"))
    wiring.connect(m, gemm.acc_wr, acc.write_port())
    out = {"cycles": []}

    async def bench(ctx):
        for ins in instructions:
            ctx.set(gemm.instr, ins.encode())
            ctx.set(gemm.start, 1)
            await ctx.tick()
            ctx.set(gemm.start, 0)
            for n in range(1, 2000):
                if ctx.get(gemm.done):
                    out["cycles"].append(n)
                    break
                await ctx.tick()
            await ctx.tick()
        out["acc"] = [unpack(ctx.get(acc.data[i]), 32, d) for i in range(cfg.acc_rows)]

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return out["cycles"], np.array(out["acc"], dtype=np.int64)


@pytest.mark.parametrize("dim,rows,kblocks", [(4, 3, 1), (4, 7, 3), (8, 9, 2)])
def test_two_pass_gemm_is_the_exact_16_bit_product(dim, rows, kblocks):
    cfg = _cfg(dim)
    rng = np.random.default_rng(dim * 100 + rows * 10 + kblocks)
    a = rng.integers(WMIN, WMAX + 1, (rows, kblocks * dim))
    a[0, 0], a[-1, -1] = WMIN, WMAX
    w = rng.integers(-128, 128, (kblocks * dim, dim))
    w[0, :] = -128
    hi, lo = numerics.split_planes(a)
    sp0 = rng.integers(-128, 128, (cfg.sp_rows, dim))
    acc0 = rng.integers(*I32, (cfg.acc_rows, dim))
    hi_at, lo_at, w_at, c_at = 0, 40, 100, 3
    for k in range(kblocks):  # K-block k of a plane at its base + k * rows (a_stride = rows)
        sp0[hi_at + k * rows: hi_at + (k + 1) * rows] = hi[:, k * dim:(k + 1) * dim]
        sp0[lo_at + k * rows: lo_at + (k + 1) * rows] = lo[:, k * dim:(k + 1) * dim]
    sp0[w_at: w_at + kblocks * dim] = w
    gemm = dict(a_stride=rows, w_addr=w_at, c_addr=c_at, rows=rows, kblocks=kblocks)
    prog = [Instruction(Opcode.GEMM, a_addr=hi_at, shift8=1, **gemm),
            Instruction(Opcode.GEMM, a_addr=lo_at, accumulate=1, **gemm)]
    cycles, acc = _run_gemms(cfg, sp0, acc0, prog)
    assert cycles == [gemm_cycles(rows, kblocks, dim)] * 2  # shift8 changes no cycle count
    _, want = _reference(cfg, prog, sp0, acc0)
    assert np.array_equal(acc, want)
    assert np.array_equal(acc[c_at: c_at + rows], a @ w)


def test_shift8_accumulate_wraps_to_int32():
    """shift8 with accumulate onto int32 extremes: (product << 8) + old wraps, as the sim's."""
    cfg, dim, rows = _cfg(4), 4, 5
    rng = np.random.default_rng(7)
    sp0 = rng.integers(-128, 128, (cfg.sp_rows, dim))
    sp0[0:rows] = -128
    sp0[100:100 + dim] = -128  # every product +2^14 * DIM, << 8 = 2^24
    acc0 = rng.integers(*I32, (cfg.acc_rows, dim))
    acc0[3:3 + rows] = numerics.INT32_MAX - rng.integers(0, 1 << 20, (rows, dim))
    prog = [Instruction(Opcode.GEMM, a_addr=0, a_stride=rows, w_addr=100, c_addr=3, rows=rows,
                        kblocks=1, accumulate=1, shift8=1)]
    cycles, acc = _run_gemms(cfg, sp0, acc0, prog)
    _, want = _reference(cfg, prog, sp0, acc0)
    assert np.array_equal(acc, want)
    assert (acc[3:3 + rows] < 0).all()  # every lane wrapped


# -- REQUANT / GELU plane -----------------------------------------------------------------------

def _epilogue_params(rng, op, blocks, dim):
    """Parameters whose results spread over and past the 16-bit range (both signs)."""
    if op == Opcode.REQUANT:
        p = np.zeros((blocks, 3, dim), dtype=np.int64)
        p[:, 0] = rng.integers(-1000, 1000, (blocks, dim))
        p[:, 1] = rng.integers(1, 1 << 12, (blocks, dim)) * rng.choice([-1, 1], (blocks, dim))
        p[:, 2] = rng.integers(8, 16, (blocks, dim))
        p[:, 0, 0] = numerics.INT32_MAX  # sat32(x + bias) upward, times m: saturates
        p[:, 1, 1], p[:, 2, 1] = numerics.INT32_MIN, numerics.MAX_SHIFT
        return p
    p = np.zeros((blocks, 5, dim), dtype=np.int64)
    p[:, 0] = rng.integers(-(1 << 12), 1 << 12, (blocks, dim))
    p[:, 1] = rng.integers(1 << 20, 1 << 24, (blocks, dim)) * rng.choice([-1, 1], (blocks, dim))
    p[:, 2] = rng.integers(20, 25, (blocks, dim))
    p[:, 3] = rng.integers(1 << 22, 1 << 28, (blocks, dim)) * rng.choice([-1, 1], (blocks, dim))
    p[:, 4] = rng.integers(18, 26, (blocks, dim))
    p[:, 4, 0] = 0
    return p


def _epilogue_case(op, dim, rows, blocks, seed):
    cfg = _cfg(dim)
    rng = np.random.default_rng(seed)
    acc0 = rng.integers(*I32, (cfg.acc_rows, dim))
    n = rows * blocks
    src, param = 2, 90
    scale = rng.integers(0, 24, (n, dim))  # magnitudes 2^0 .. 2^23
    acc0[src: src + n] = rng.integers(-(1 << 23), 1 << 23, (n, dim)) >> scale
    if op == Opcode.GELU:
        acc0[src: src + n] = rng.integers(-(1 << 15), 1 << 15, (n, dim))
    p = _epilogue_params(rng, op, blocks, dim)
    acc0[param: param + p.shape[1] * blocks] = p.reshape(-1, dim)
    sp0 = rng.integers(-128, 128, (cfg.sp_rows, dim))
    return cfg, acc0, sp0, src, param


@pytest.mark.parametrize("op,dim,rows,blocks", [
    (Opcode.REQUANT, 4, 7, 3), (Opcode.REQUANT, 8, 5, 2), (Opcode.GELU, 4, 9, 2),
    (Opcode.GELU, 8, 8, 2),
])
def test_plane_outputs_match_the_functional_simulator(op, dim, rows, blocks):
    cfg, acc0, sp0, src, param = _epilogue_case(op, dim, rows, blocks, int(op) * 97 + dim + rows)
    n, dst = rows * blocks, 30
    outs = {}
    for plane in Plane:
        ins = Instruction(op, src=src, dst=dst + (n if plane == Plane.LOW else 0), rows=rows,
                          blocks=blocks, param=param, plane=plane)
        out = run_engine(ENGINE[op], dim, acc0.tolist(), sp0.tolist(), ins, shared_mul=True)
        assert out["error"] == ErrorCode.NONE
        assert out["cycles"] == vector_cycles(op, rows, blocks)  # plane changes no cycle count
        assert out["checked"] == [check_cycles(op, blocks)]
        want_sp, want_acc = _reference(cfg, [ins], sp0, acc0)
        assert out["sp"] == want_sp.tolist(), plane
        assert out["acc"] == want_acc.tolist()
        outs[plane] = np.array(out["sp"], dtype=np.int64)
    wide = numerics.join_planes(outs[Plane.HIGH][dst: dst + n],
                                outs[Plane.LOW][dst + n: dst + 2 * n])
    assert _covers_wide_range(wide), np.sort(wide.ravel())
    # The int8 plane is the 16-bit result saturated further (sat8 of sat_wide = sat8).
    assert np.array_equal(outs[Plane.INT8][dst: dst + n], numerics.sat8(wide))


def test_plane_boundaries_exactly():
    """REQUANT with m = 1, s = 0 passes x through: every boundary of sat8, sat_wide and the
    plane split (hi steps at v = 128 + 256k) on all three planes."""
    dim, cfg = 4, _cfg(4)
    edges = [WMIN - 1, WMIN, WMIN + 1, WMAX - 1, WMAX, WMAX + 1, -129, -128, 127, 128, 0, -1,
             1, 383, 384, -385, -384, numerics.INT32_MIN, numerics.INT32_MAX, 255, 256, -256]
    edges += [0] * (-len(edges) % dim)
    n = len(edges) // dim
    acc0 = np.zeros((cfg.acc_rows, dim), dtype=np.int64)
    acc0[0:n] = np.reshape(edges, (n, dim))
    acc0[100:103] = [[0] * dim, [1] * dim, [0] * dim]
    sp0 = np.zeros((cfg.sp_rows, dim), dtype=np.int64)
    v = np.reshape(edges, (n, dim))
    for plane in Plane:
        ins = Instruction(Opcode.REQUANT, src=0, dst=10, rows=n, blocks=1, param=100,
                          plane=plane)
        out = run_engine(RequantEngine, dim, acc0.tolist(), sp0.tolist(), ins)
        want_sp, _ = _reference(cfg, [ins], sp0, acc0)
        assert out["sp"] == want_sp.tolist(), plane
        assert np.array_equal(want_sp[10:10 + n], numerics.out_plane(v, plane))
    hi, lo = numerics.split_planes(numerics.sat_wide(v))
    assert np.array_equal(numerics.join_planes(hi, lo), np.clip(v, WMIN, WMAX))


# -- LAYERNORM plane -----------------------------------------------------------------------------

@pytest.mark.parametrize("dim,rows,blocks,n_valid,shift", [(4, 3, 2, 7, 11), (8, 2, 1, 8, 12),
                                                          (4, 1, 3, 10, 13)])
def test_layernorm_planes_match_the_functional_simulator(dim, rows, blocks, n_valid, shift):
    cfg = _cfg(dim)
    rng = np.random.default_rng(dim * 1000 + rows * 10 + blocks)
    acc0 = rng.integers(*I32, (cfg.acc_rows, dim))
    src, param, n = 2, 90, rows * blocks
    acc0[src: src + n] = rng.integers(-(1 << 16), 1 << 16, (n, dim))
    width = blocks * dim
    gamma = rng.integers(1 << 6, 1 << 12, width) * rng.choice([-1, 1], width)
    beta = rng.integers(-(1 << 16), 1 << 16, width)
    gamma[0] = numerics.INT32_MAX
    beta[1], beta[3] = numerics.INT32_MIN, numerics.INT32_MAX  # both ends, whatever n_i
    acc0[param] = 0
    acc0[param, :2] = n_valid, shift
    for j in range(blocks):
        acc0[param + 1 + 2 * j] = gamma[j * dim:(j + 1) * dim]
        acc0[param + 2 + 2 * j] = beta[j * dim:(j + 1) * dim]
    sp0 = rng.integers(-128, 128, (cfg.sp_rows, dim))
    dst = 30
    outs = {}
    for plane in Plane:
        ins = Instruction(Opcode.LAYERNORM, src=src, dst=dst + (n if plane == Plane.LOW else 0),
                          rows=rows, blocks=blocks, param=param, plane=plane)
        out = run_engine(LayerNormEngine, dim, acc0.tolist(), sp0.tolist(), ins,
                         shared_mul=True)
        assert out["error"] == ErrorCode.NONE
        assert out["cycles"] == layernorm_cycles(rows, blocks)
        want_sp, _ = _reference(cfg, [ins], sp0, acc0)
        assert out["sp"] == want_sp.tolist(), plane
        outs[plane] = np.array(out["sp"], dtype=np.int64)
    wide = numerics.join_planes(outs[Plane.HIGH][dst: dst + n],
                                outs[Plane.LOW][dst + n: dst + 2 * n])
    assert _covers_wide_range(wide), np.sort(wide.ravel())


# -- RESADD res_wide -----------------------------------------------------------------------------

@pytest.mark.parametrize("dim,rows,blocks,in_place", [(4, 5, 2, False), (4, 1, 1, True),
                                                      (8, 3, 3, False), (4, 6, 3, True)])
def test_resadd_wide_residual_matches_the_functional_simulator(dim, rows, blocks, in_place):
    cfg = _cfg(dim)
    rng = np.random.default_rng(dim * 100 + rows * 10 + blocks)
    acc0 = rng.integers(*I32, (cfg.acc_rows, dim))
    n, src, res, param = rows * blocks, 2, 50, 90
    acc0[src: src + n] = rng.integers(-(1 << 20), 1 << 20, (n, dim))
    r = rng.integers(WMIN, WMAX + 1, (n, dim))
    r[0, 0], r[-1, -1] = WMIN, WMAX
    hi, lo = numerics.split_planes(r)
    sp0 = rng.integers(-128, 128, (cfg.sp_rows, dim))
    sp0[res: res + n], sp0[res + n: res + 2 * n] = hi, lo
    p = np.zeros((blocks, 5, dim), dtype=np.int64)  # bias, m1, s1, m2, s2
    p[:, 0] = rng.integers(-1000, 1000, (blocks, dim))
    p[:, 1] = rng.integers(*I32, (blocks, dim))
    p[:, 2] = rng.integers(20, 40, (blocks, dim))
    p[:, 3] = rng.integers(*I32, (blocks, dim))
    p[:, 3, 0] = numerics.INT32_MIN  # r * m2 at its extremes: exact 64-bit products
    p[:, 4] = rng.integers(10, 30, (blocks, dim))
    p[:, 4, 1] = 0  # r * m2 unshifted: saturates sat32 both ways
    acc0[param: param + 5 * blocks] = p.reshape(-1, dim)
    dst = src if in_place else 60
    ins = Instruction(Opcode.RESADD, src=src, res=res, dst=dst, rows=rows, blocks=blocks,
                      param=param, res_wide=1)
    out = run_engine(ResaddEngine, dim, acc0.tolist(), sp0.tolist(), ins, shared_mul=True)
    assert out["error"] == ErrorCode.NONE
    assert out["cycles"] == vector_cycles(Opcode.RESADD, rows, blocks)
    assert out["checked"] == [check_cycles(Opcode.RESADD, blocks)]
    want_sp, want_acc = _reference(cfg, [ins], sp0, acc0)
    assert out["acc"] == want_acc.tolist()
    assert out["sp"] == want_sp.tolist()
    # Not the int8 reading of the high plane alone: the low plane took part.
    narrow = Instruction(Opcode.RESADD, **{**ins.f, "res_wide": 0})
    assert not np.array_equal(_reference(cfg, [narrow], sp0, acc0)[1], want_acc)


@pytest.mark.parametrize("wide,code", [(0, ErrorCode.NONE), (1, ErrorCode.SRAM_RANGE)])
def test_resadd_wide_res_range_covers_both_planes(wide, code):
    """res + rows*blocks fits the scratchpad, res + 2*rows*blocks does not: with res_wide the
    late check fails (SRAM_RANGE) at the functional simulator's point, nothing written."""
    cfg, dim, rows, blocks = _cfg(4), 4, 3, 2
    rng = np.random.default_rng(11)
    acc0 = rng.integers(-1000, 1000, (cfg.acc_rows, dim))
    acc0[90: 100] = [[0] * dim, [1] * dim, [0] * dim, [1] * dim, [0] * dim] * 2
    sp0 = rng.integers(-128, 128, (cfg.sp_rows, dim))
    ins = Instruction(Opcode.RESADD, src=0, res=cfg.sp_rows - rows * blocks - 1, dst=40,
                      rows=rows, blocks=blocks, param=90, res_wide=wide)
    out = run_engine(ResaddEngine, dim, acc0.tolist(), sp0.tolist(), ins)
    assert out["error"] == code
    assert out["checked"] == [check_cycles(Opcode.RESADD, blocks)]
    if code == ErrorCode.NONE:
        _, want_acc = _reference(cfg, [ins], sp0, acc0)
        assert out["acc"] == want_acc.tolist()
    else:
        assert out["cycles"] == check_cycles(Opcode.RESADD, blocks)
        assert out["acc"] == acc0.tolist() and out["sp"] == sp0.tolist()
        with pytest.raises(SimError, match=r"RESADD res") as e:
            _reference(cfg, [ins], sp0, acc0)
        assert e.value.code == ErrorCode.SRAM_RANGE


# -- the word checks (static_checks) -------------------------------------------------------------

def _static_error(op, ins, cfg):
    """The engine's static_checks on ``ins``, evaluated in the Amaranth simulator."""
    m = Module()
    out = Signal(ErrorCode)
    checks = ENGINE[op].static_checks(op, Const(ins.encode(), 128), cfg)
    m.d.comb += out.eq(ENGINE[op].first_error(checks))
    got = []

    async def bench(ctx):
        got.append(ErrorCode(ctx.get(out)))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    return got[0]


def _sim_error(cfg, ins):
    try:
        _reference(cfg, [ins], np.zeros((cfg.sp_rows, cfg.dim)), np.zeros((cfg.acc_rows, cfg.dim)))
    except SimError as e:
        return e.code
    return ErrorCode.NONE


@pytest.mark.parametrize("op", [Opcode.REQUANT, Opcode.GELU, Opcode.LAYERNORM])
@pytest.mark.parametrize("fields,code", [
    ({"plane": 3}, ErrorCode.BAD_FIELD),
    ({"plane": 3, "rows": 0}, ErrorCode.BAD_FIELD),  # rows first: the same code either way
    ({"plane": 3, "src": 255}, ErrorCode.BAD_FIELD),  # plane before the src range
    ({"plane": 3, "param": 255}, ErrorCode.BAD_FIELD),  # plane before the parameter range
    ({"plane": 2, "param": 255}, ErrorCode.SRAM_RANGE),
    ({"plane": 2}, None),
])
def test_plane_3_is_a_bad_field_before_the_ranges(op, fields, code):
    cfg = _cfg(4)
    ins = Instruction(op, **{"src": 0, "dst": 0, "rows": 2, "blocks": 1, "param": 60,
                             **fields})
    assert _static_error(op, ins, cfg) == (code or ErrorCode.NONE)
    if code is not None:  # the functional simulator fails the same way
        assert _sim_error(cfg, ins) == code
