"""The compiler's 16-bit activations (act_bits=16, the default): the accumulator bound, the
planar int16 tensors, the instruction pattern, accuracy against int8, and int8 mode kept."""

from __future__ import annotations

import numpy as np
import pytest

from compiler import compile_model, load_model
from compiler.lower_model import lower_model
from compiler.quantize import AccumulatorBoundError, check_wide_bound, column_abs_sum, wide_qmax
from encore.host import run_functional
from isa import MachineConfig, Opcode, Plane, Program, TensorInfo, numerics
from tests.helpers import save_bert

CFG = MachineConfig(dim=8)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = save_bert(tmp_path_factory.mktemp("w") / "tiny", hidden=40, heads=2, ffn=72,
                       layers=2)
    return load_model(str(folder))


def test_wide_qmax_is_the_accumulator_bound():
    codes = np.full((2048, 3), 127, dtype=np.int64)
    codes[:, 1] = -127
    codes[5, 2] = 0  # the largest column decides
    assert column_abs_sum(codes) == 2048 * 127 == 260096
    qmax = wide_qmax(codes)
    assert qmax == (2**31 - 1) // 260096 - 128 == 8128
    check_wide_bound(codes, qmax)
    assert 260096 * (qmax + 128) < 2**31 <= 260096 * (qmax + 129)
    with pytest.raises(AccumulatorBoundError, match=r"sum \|w\| = 260096.*qmax must be <= 8128"):
        check_wide_bound(codes, qmax + 1, "FFN2 weights")
    # small K: the whole 16-bit range
    assert wide_qmax(np.full((384, 4), 127)) == numerics.WIDE_MAX
    # so large that not even int8's range fits: a clear error naming the way out
    with pytest.raises(AccumulatorBoundError, match="use act_bits=8"):
        wide_qmax(np.full((66400, 1), 127), "huge weights")


def test_wide_accumulator_overflow_is_real():
    """The bound is tight: one level beyond it, the worst case wraps the int32 accumulator."""
    colsum = 260096
    qmax = wide_qmax(np.full((2048, 1), 127))
    v = qmax + 1
    hi, lo = numerics.split_planes(v)
    # the high plane's partial sum (hi * 256 = v - lo) times the column sum
    assert colsum * int(hi) * 256 <= 2**31 - 1 < colsum * (qmax + 129)


def test_lowering_refuses_a_qmax_beyond_the_bound(tmp_path):
    folder = save_bert(tmp_path / "wide_ffn", hidden=16, heads=2, ffn=2048, layers=1)
    cm = compile_model(str(folder), CFG, seq_len=5, cache=False, quant={"use_gptq": False})
    q = cm.quantized
    ql = q.layers[0]
    assert q.act_bits == 16 and ql.qmax["f"] == wide_qmax(ql.w2) <= numerics.WIDE_MAX
    assert ql.qmax["h1"] == ql.qmax["x"] == numerics.WIDE_MAX  # K = 16: no limit
    ql.w2 = np.full_like(ql.w2, 127)  # sum |w| = 2048 * 127 per column: qmax 8128
    ql.qmax["f"] = 8129
    with pytest.raises(AccumulatorBoundError, match="layer 0 FFN2 weights.*<= 8128"):
        lower_model(q, CFG, batch=1, seq=5)
    ql.qmax["f"] = 8128
    lower_model(q, CFG, batch=1, seq=5)


def test_int16_tensor_is_two_planes():
    prog = Program(config=CFG, instructions=[], dram_init=b"", dram_size=1024,
                   tensors={"x": TensorInfo("x", 0, 3, 10, "int16", "activation")})
    t = prog.tensor("x")
    assert t.esize == 2 and t.planes == 2 and t.nbytes(8) == 2 * 2 * 3 * 8
    x = np.arange(30).reshape(3, 10) * 2000 - 30000
    dram = prog.new_dram()
    prog.write_tensor(dram, "x", x)
    assert np.array_equal(prog.read_tensor(dram, "x"), x)
    assert np.array_equal(prog.read_tensor_rows(dram, "x", np.array([2, 0])), x[[2, 0]])
    hi, lo = numerics.split_planes(x)
    plane = t.plane_bytes(8)
    assert plane == 48
    assert dram[:plane].view(np.int8)[:8].tolist() == hi[0, :8].tolist()  # block 0, row 0
    assert dram[plane:2 * plane].view(np.int8)[8:16].tolist() == lo[1, :8].tolist()
    with pytest.raises(ValueError, match="16-bit activation range"):
        prog.write_tensor(dram, "x", np.full((3, 10), numerics.WIDE_MAX + 1))


def _run(tiny, act_bits, lengths=(5, 2)):
    seq = max(lengths)
    rng = np.random.default_rng(3)
    ids = rng.integers(5, 900, size=(len(lengths), seq))
    mask = (np.arange(seq)[None, :] < np.array(lengths)[:, None]).astype(np.int64)
    cm = compile_model(None, CFG, loaded=tiny, seq_len=seq, lengths=list(lengths),
                       padded=False, act_bits=act_bits, cache=False)
    sim, _, layers = run_functional(cm.program, ids, mask)
    cap: dict = {}
    cm.graph.forward(ids, mask, capture=cap)
    return cm, sim, layers, cap, mask


def test_wide_program_structure(tiny):
    cm, sim, _, _, _ = _run(tiny, 16)
    prog = cm.program
    assert prog.meta["act_bits"] == 16
    for name in ("emb.out", "L0.h1", "L0.ffn", "L1.out"):
        assert prog.tensor(name).dtype == "int16"
    assert prog.tensor("L0.qkv").dtype == prog.tensor("L0.ctx").dtype == "int8"
    ins = prog.instructions
    gemm_hi = [i for i in ins if i.op == Opcode.GEMM and i.f["shift8"]]
    gemm_lo = [i for i, j in zip(ins, ins[1:], strict=False) if j.op == Opcode.GEMM
               and i.op == Opcode.GEMM and i.f["shift8"] and not j.f["shift8"]]
    assert gemm_hi and len(gemm_lo) == len(gemm_hi)  # every high-plane GEMM then its low plane
    for op in (Opcode.LAYERNORM, Opcode.GELU):
        planes = [i.f["plane"] for i in ins if i.op == op]
        assert planes.count(Plane.HIGH) == planes.count(Plane.LOW) == len(planes) // 2 > 0
    # every 16-bit output value lies in the 16-bit range and uses more than int8's levels
    out = prog.read_tensor(sim.dram, "L1.out")
    assert numerics.WIDE_MIN <= out.min() and out.max() <= numerics.WIDE_MAX
    assert np.abs(out).max() > 1000


def test_16_bit_is_closer_to_the_float_graph(tiny):
    errs = {}
    for bits in (8, 16):
        cm, sim, layers, cap, mask = _run(tiny, bits)
        keep = mask.astype(bool)
        errs[bits] = []
        for name, key in (("L0.h1", "0.h1"), ("L0.ffn", "0.f"), ("L1.out", "1.out")):
            t = cm.program.tensor(name)
            got = cm.program.read_tensor(sim.dram, name) * np.asarray(t.scale)
            ref = cap[key][0][0][keep]
            errs[bits].append(np.linalg.norm(got - ref) / np.linalg.norm(ref))
    # the int8 rounding of h1 / f is gone; what is left are the weights and attention
    assert all(e16 < e8 for e8, e16 in zip(errs[8], errs[16], strict=True)), errs
    assert errs[16][0] < 0.5 * errs[8][0], errs


def test_int8_mode_has_no_wide_instruction(tiny):
    cm, _, _, _, _ = _run(tiny, 8)
    prog = cm.program
    assert prog.meta["act_bits"] == 8
    assert all(t.dtype != "int16" for t in prog.tensors.values())
    assert not any(i.f.get("shift8") or i.f.get("plane") or i.f.get("res_wide")
                   for i in prog.instructions)


def test_act_bits_is_checked(tiny):
    with pytest.raises(ValueError, match=r"act_bits=12 is not one of \(8, 16\)"):
        compile_model(None, CFG, loaded=tiny, seq_len=4, act_bits=12, cache=False)


def test_tight_srams_count_both_planes(tmp_path):
    """The tiler counts a 16-bit tile's two planes: with SRAMs so small that the 16-bit layers
    take more, smaller tiles than the int8 ones, the outputs are bit-identical to a roomy
    machine's (tiling changes no number; a miscounted plane would overwrite a live tile)."""
    folder = save_bert(tmp_path / "m", hidden=32, heads=2, ffn=64, layers=1, max_pos=16)
    lm = load_model(str(folder))
    rng = np.random.default_rng(5)
    ids = rng.integers(5, 900, size=(2, 8))
    mask = np.ones_like(ids)
    outs, counts = {}, {}
    for name, cfg in (("roomy", MachineConfig(dim=4, sp_kib=64, acc_kib=64)),
                      ("tight", MachineConfig(dim=4, sp_kib=2, acc_kib=2))):
        cm = compile_model(None, cfg, loaded=lm, seq_len=8, batch=2, cache=False,
                           quant={"use_gptq": False})
        sim, _, _ = run_functional(cm.program, ids, mask)
        outs[name] = cm.program.read_tensor(sim.dram, "L0.out")
        counts[name] = sum(i.op == Opcode.GEMM for i in cm.program.instructions)
    assert counts["tight"] > counts["roomy"]  # the tight machine really tiles smaller
    assert np.array_equal(outs["tight"], outs["roomy"])
