"""16-bit activations (ISA version 2): planes, two-pass GEMM, plane outputs, wide residuals,
in the functional simulator (the RTL's tests compare the RTL with it)."""

import numpy as np
import pytest

from isa import ErrorCode, Instruction, MachineConfig, Opcode, Plane, Program, numerics
from sim import FunctionalSim, SimError

CFG = MachineConfig(dim=4, sp_kib=1, acc_kib=1)  # 256 scratchpad rows, 64 accumulator rows
D = CFG.dim


def _sim(*instructions) -> FunctionalSim:
    return FunctionalSim(Program(config=CFG, instructions=list(instructions), dram_init=b"",
                                 dram_size=256))


def test_planes_cover_the_wide_range_exactly():
    v = np.arange(numerics.WIDE_MIN, numerics.WIDE_MAX + 1)
    hi, lo = numerics.split_planes(v)
    assert hi.min() == -128 and hi.max() == 127 and lo.min() == -128 and lo.max() == 127
    assert np.array_equal(numerics.join_planes(hi, lo), v)
    # One past the top would need hi = 128: the range stops at 127 * 256 + 127.
    assert numerics.split_planes(numerics.WIDE_MAX + 1)[0] == 128
    assert np.array_equal(numerics.sat_wide([-40000, 40000]), [numerics.WIDE_MIN,
                                                               numerics.WIDE_MAX])


def test_two_pass_gemm_is_the_exact_16_bit_product():
    rng = np.random.default_rng(1)
    rows, kb = 6, 2
    a = rng.integers(numerics.WIDE_MIN, numerics.WIDE_MAX + 1, size=(rows, kb * D))
    w = rng.integers(-128, 128, size=(kb * D, D))
    hi, lo = numerics.split_planes(a)
    sim = _sim(
        Instruction(Opcode.GEMM, a_addr=0, a_stride=rows, w_addr=100, c_addr=10, rows=rows,
                    kblocks=kb, shift8=1),
        Instruction(Opcode.GEMM, a_addr=50, a_stride=rows, w_addr=100, c_addr=10, rows=rows,
                    kblocks=kb, accumulate=1))
    for k in range(kb):  # K-block k of A at a_addr + k * a_stride
        sim.sp[k * rows:(k + 1) * rows] = hi[:, k * D:(k + 1) * D]
        sim.sp[50 + k * rows:50 + (k + 1) * rows] = lo[:, k * D:(k + 1) * D]
    sim.sp[100:100 + kb * D] = w
    sim.run()
    assert np.array_equal(sim.acc[10:10 + rows].astype(np.int64), a @ w)


def _requant_sim(plane: int, src: np.ndarray, m: int, s: int) -> FunctionalSim:
    sim = _sim(Instruction(Opcode.REQUANT, src=0, dst=20, rows=len(src), blocks=1, param=40,
                           plane=plane))
    sim.acc[:len(src)] = src
    sim.acc[40:43] = [[0] * D, [m] * D, [s] * D]
    return sim


def test_plane_outputs_join_to_the_16_bit_result():
    rng = np.random.default_rng(2)
    src = rng.integers(-(1 << 22), 1 << 22, size=(8, D))
    m, s = 3, 7  # results up to 2**17 / 2**7 * 3: some beyond the 16-bit range, saturated
    out = {}
    for plane in Plane:
        sim = _requant_sim(plane, src, m, s)
        sim.run()
        out[plane] = sim.sp[20:28].astype(np.int64)
    v = numerics.rshift_round(src * m, s)
    joined = numerics.join_planes(out[Plane.HIGH], out[Plane.LOW])
    assert np.array_equal(joined, np.clip(v, numerics.WIDE_MIN, numerics.WIDE_MAX))
    assert np.array_equal(out[Plane.INT8], np.clip(v, -128, 127))
    assert (np.abs(v) > numerics.WIDE_MAX).any()  # the saturation was exercised


def test_resadd_reads_both_planes_of_a_wide_residual():
    rng = np.random.default_rng(3)
    rows, blocks = 3, 2
    r = rng.integers(numerics.WIDE_MIN, numerics.WIDE_MAX + 1, size=(blocks, rows, D))
    x = rng.integers(-1000, 1000, size=(blocks, rows, D))
    hi, lo = numerics.split_planes(r)
    sim = _sim(Instruction(Opcode.RESADD, src=0, res=100, dst=0, rows=rows, blocks=blocks,
                           param=30, res_wide=1))
    sim.acc[:rows * blocks] = x.reshape(-1, D)
    sim.sp[100:100 + rows * blocks] = hi.reshape(-1, D)
    sim.sp[100 + rows * blocks:100 + 2 * rows * blocks] = lo.reshape(-1, D)
    params = [[5] * D, [1] * D, [0] * D, [3] * D, [1] * D]  # bias, m1, s1, m2, s2 per block
    sim.acc[30:40] = params + params
    sim.run()
    expect = x + 5 + numerics.rshift_round(r * 3, 1)
    assert np.array_equal(sim.acc[:rows * blocks].astype(np.int64), expect.reshape(-1, D))


@pytest.mark.parametrize("op", [Opcode.REQUANT, Opcode.GELU, Opcode.LAYERNORM])
def test_plane_3_is_a_bad_field(op):
    sim = _sim(Instruction(op, src=0, dst=0, rows=1, blocks=1, param=0, plane=3))
    with pytest.raises(SimError, match=r"plane=3 is not one of 0 \(INT8\), 1 \(HIGH\), 2 \(LOW\)"
                       ) as e:
        sim.run()
    assert e.value.code == ErrorCode.BAD_FIELD


def test_wide_residual_range_check_covers_both_planes():
    def resadd(wide):
        sim = _sim(Instruction(Opcode.RESADD, src=0, res=253, dst=0, rows=2, blocks=1,
                               param=30, res_wide=wide))
        sim.acc[30:35] = [[0] * D, [1] * D, [0] * D, [1] * D, [0] * D]
        return sim

    resadd(0).run()  # one plane: rows [253, 255) fit the 256-row scratchpad
    with pytest.raises(SimError, match=r"RESADD res.*\[253, 257\)") as e:
        resadd(1).run()  # two planes: [253, 257) do not
    assert e.value.code == ErrorCode.SRAM_RANGE
