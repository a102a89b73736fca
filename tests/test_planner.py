"""The layer-scope SRAM planner (compiler/sram_plan.py) and the fused feed-forward block it places
(compiler/lower_ffn.py): no two live buffers share rows, planned programs are bit-exact with the
per-kernel ones in every queue interleaving, and small machines fall back to per-kernel."""

from __future__ import annotations

import numpy as np
import pytest

from compiler import lower_ffn as lf
from compiler.lower_linear import plan
from compiler.lower_model import lower_model
from compiler.pipeline import compile_model
from compiler.sram_plan import PlanError, SramPlan
from isa import MachineConfig, Opcode
from sim import FunctionalSim, run_program
from tests.helpers import save_bert


def _pairwise_disjoint(plan: SramPlan) -> None:
    bufs = list(plan.buffers.values())
    for b in bufs:
        assert 0 <= b.base and b.base + b.rows <= plan.capacity[b.space], b
    for i, a in enumerate(bufs):
        for b in bufs[i + 1:]:
            if a.space == b.space and a.first <= b.last and b.first <= a.last:
                assert a.base + a.rows <= b.base or b.base + b.rows <= a.base, (a, b)


def _allocates(plan: SramPlan) -> bool:
    """Allocate ``plan``; False if the allocator refuses it (PlanError)."""
    try:
        plan.allocate()
    except PlanError:
        return False
    return True


def test_allocator_random_intervals_never_overlap_live_buffers():
    rng = np.random.default_rng(15)
    placed = refused = 0
    for _ in range(300):
        plan = SramPlan(int(rng.integers(16, 400)), int(rng.integers(16, 200)))
        for j in range(int(rng.integers(1, 25))):
            first = int(rng.integers(0, 20))
            plan.add(f"t{j}", ("sp", "acc")[j % 2], int(rng.integers(1, 60)), first,
                     first + int(rng.integers(0, 6)))
        if not _allocates(plan):
            refused += 1
            continue
        placed += 1
        _pairwise_disjoint(plan)
        # buffers that are never live together may share rows: first-fit reuses them
    assert placed > 50 and refused > 5  # both outcomes exercised


def test_allocator_places_around_reserved_rows():
    """Reserved (fixed) buffers, as compiler/prefetch.py declares the accesses of the
    instructions a moved LOAD passes: over random layouts no allocated buffer shares a row with
    a reserved or an allocated buffer live at the same time; reserved buffers may overlap each
    other (two instructions accessing the same rows)."""
    rng = np.random.default_rng(24)
    placed = refused = 0
    for _ in range(300):
        plan = SramPlan(int(rng.integers(16, 300)), 16)
        for j in range(int(rng.integers(0, 12))):
            first, rows = int(rng.integers(0, 10)), int(rng.integers(1, 40))
            base = int(rng.integers(0, plan.capacity["sp"] - rows + 1)) if rows <= \
                plan.capacity["sp"] else 0
            plan.reserve(f"r{j}", "sp", base, min(rows, plan.capacity["sp"]), first,
                         first + int(rng.integers(0, 4)))
        for j in range(int(rng.integers(1, 6))):
            first = int(rng.integers(0, 10))
            plan.add(f"t{j}", "sp", int(rng.integers(1, 50)), first,
                     first + int(rng.integers(0, 4)))
        fixed = {n: b.base for n, b in plan.buffers.items() if b.fixed}
        if not _allocates(plan):
            refused += 1
            continue
        placed += 1
        assert {n: plan.base(n) for n in fixed} == fixed  # reserved rows stay where they are
        bufs = list(plan.buffers.values())
        for i, a in enumerate(bufs):
            for b in bufs[i + 1:]:
                if not (a.fixed and b.fixed) and a.live_with(b):
                    assert not a.shares_rows(b), (a, b)
    assert placed > 50 and refused > 5
    plan = SramPlan(100, 10)
    plan.reserve("r", "sp", 10, 30, 0, 2)
    plan.reserve("r2", "sp", 20, 30, 1, 1)  # overlapping reserved rows are allowed
    plan.add("t", "sp", 20, 1, 3)
    assert plan.allocate().base("t") == 50
    plan.buffers["t"].base = 45
    with pytest.raises(AssertionError, match="live buffers r2 and t share sp rows"):
        plan.check()


def test_allocator_reuses_rows_of_dead_buffers_and_check_catches_a_clash():
    plan = SramPlan(100, 10)
    for i in range(4):  # a row tile's buffer lives from its prefetch to its use
        plan.add(f"a{i}", "sp", 40, max(0, i - 1), i)
    plan.allocate()
    assert [plan.base(f"a{i}") for i in range(4)] == [0, 40, 0, 40]  # a double buffer
    plan.buffers["a1"].base = 20
    with pytest.raises(AssertionError, match="share"):
        plan.check()
    full = SramPlan(79, 10)
    for i in range(2):
        full.add(f"a{i}", "sp", 40, 0, 1)
    with pytest.raises(PlanError, match="does not fit"):
        full.allocate()


def test_fused_ffn_layouts_over_random_layer_shapes():
    """The property the issue asks for, on the planner's own layouts: over random layer shapes
    and machines, every fused candidate's buffers that are live together are disjoint."""
    rng = np.random.default_rng(2)
    seen = 0
    for _ in range(60):
        dim = int(rng.choice([4, 8, 16]))
        kib = [max(int(k), dim // 4) for k in rng.choice([1, 2, 4, 8, 16, 64], size=2)]
        cfg = MachineConfig(dim=dim, sp_kib=kib[0], acc_kib=kib[1])
        s = lf.FfnShape(m=int(rng.integers(1, 70)), kb=int(rng.integers(1, 9)),
                        fb=int(rng.integers(1, 30)), pa=int(rng.integers(1, 3)),
                        pf=int(rng.integers(1, 3)), po=int(rng.integers(1, 3)))
        for pl in lf.candidates(cfg, s):
            plan = lf.layout(cfg, s, pl)
            _pairwise_disjoint(plan)
            tiles = -(-s.m // pl.m_tile)
            assert len([b for b in plan.buffers if b.startswith("a")]) == tiles
            seen += 1
    assert seen > 40


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return save_bert(tmp_path_factory.mktemp("planner") / "m", hidden=32, heads=2, ffn=64,
                     layers=2, max_pos=16)


def _quantized(folder, cfg, act_bits):
    return compile_model(str(folder), cfg, seq_len=8, batch=2, act_bits=act_bits,
                         cache=False).quantized


def _inputs(prog, seed):
    rng = np.random.default_rng(seed)
    return {n: rng.integers(-(1 << 12), 1 << 12, (t.rows, t.cols))
            for n, t in prog.tensors.items() if t.role == "input"}


def _same_everywhere(prog, ref_dram, inputs, seeds):
    got, _ = run_program(prog, inputs)
    assert np.array_equal(got.dram, ref_dram)
    for seed in seeds:
        s = FunctionalSim(prog)
        for name, v in inputs.items():
            prog.write_tensor(s.dram, name, v)
        s.run_interleaved(seed)
        diff = np.nonzero(s.dram != ref_dram)[0]
        assert diff.size == 0, (seed, diff[:8])


@pytest.mark.parametrize("act_bits", [16, 8])
@pytest.mark.parametrize("dim,sp_kib,acc_kib", [(4, 1, 2), (4, 2, 4), (8, 2, 4), (8, 4, 8)])
def test_every_fused_tiling_is_bit_exact_in_any_queue_order(tiny_model, monkeypatch, act_bits,
                                                            dim, sp_kib, acc_kib):
    """Each fused candidate (forced, whatever the cost model would pick) against the per-kernel
    program: the whole DRAM image equal after the in-order run and three interleavings (the
    fused kernel still stores L*.ffn by default, so even the intermediate is compared)."""
    cfg = MachineConfig(dim=dim, sp_kib=sp_kib, acc_kib=acc_kib, max_seq=16)
    q = _quantized(tiny_model, cfg, act_bits)
    ref_prog = lower_model(q, cfg, batch=2, seq=8, fuse_ffn=False)
    assert all(v.startswith("per-kernel") for v in ref_prog.meta["planner"].values())
    inputs = _inputs(ref_prog, dim)
    ref, _ = run_program(ref_prog, inputs)
    shape = lf.FfnShape(16, 32 // dim, 64 // dim, *(2 if act_bits == 16 else 1,) * 3, True)
    cands = lf.candidates(cfg, shape)
    assert cands, "the fused FFN should fit this machine"
    tiles = set()
    for pl in cands:
        monkeypatch.setattr(lf, "plan_ffn", lambda cfg, s, pl=pl: (pl, pl.describe(s.m)))
        prog = lower_model(q, cfg, batch=2, seq=8)
        assert all(v.startswith("fused") for v in prog.meta["planner"].values())
        assert [x["name"] for x in prog.meta["layer_spans"]].count("L0.ffn") == 1
        _same_everywhere(prog, ref.dram, inputs, seeds=range(3))
        tiles.add(-(-16 // pl.m_tile))
    assert max(tiles) > 1 or (dim, sp_kib) == (8, 4)  # several row tiles are covered


def test_planned_program_without_intermediate_stores(tiny_model):
    cfg = MachineConfig(dim=4, sp_kib=16, acc_kib=16, max_seq=16)
    q = _quantized(tiny_model, cfg, 16)
    old = lower_model(q, cfg, batch=2, seq=8, fuse_ffn=False)
    new = lower_model(q, cfg, batch=2, seq=8, keep_intermediates=False)
    assert all(v.startswith("fused") for v in new.meta["planner"].values())
    inputs = _inputs(old, 1)
    a, _ = run_program(old, inputs)
    b, _ = run_program(new, inputs)
    for name in old.meta["layer_outputs"]:
        assert np.array_equal(old.read_tensor(a.dram, name), new.read_tensor(b.dram, name))
    assert not new.read_tensor(b.dram, "L0.ffn").any()  # never written
    stores = [sum(i.op == Opcode.STORE for i in p.instructions) for p in (old, new)]
    assert stores[1] < stores[0]
    for seed in range(2):
        s = FunctionalSim(new)
        for name, v in inputs.items():
            new.write_tensor(s.dram, name, v)
        s.run_interleaved(seed)
        assert np.array_equal(s.dram, b.dram)


def test_fused_kernel_that_does_not_fit_falls_back():
    """DIM 4, a 1 KiB accumulator (64 rows), hidden 28: both per-kernel layers fit (RESADD +
    LAYERNORM on 2-row tiles), the fused kernel needs a row of FFN1 output and GELU
    parameters more than that."""
    cfg = MachineConfig(dim=4, sp_kib=16, acc_kib=1, max_seq=16)
    plan(cfg, 16, [7], 14, "gelu")
    plan(cfg, 16, [14], 7, "resadd_ln")
    assert lf.candidates(cfg, lf.FfnShape(16, 7, 14, 2, 2, 2, True)) == []
    pl, why = lf.plan_ffn(cfg, lf.FfnShape(16, 7, 14, 2, 2, 2, True))
    # per kernel, or the spilled FFN2 if the cost model prefers it: never the fused kernel
    assert (pl, why) == (None, "per-kernel: the fused FFN does not fit the SRAMs") or \
        (pl == lf.SPILL and why.startswith("spilled"))


def test_small_sram_falls_back_to_per_kernel(tiny_model):
    """DIM 8 with a 1 KiB scratchpad and a 2 KiB accumulator (int8) fits the fused kernel only
    in more row tiles than the per-kernel layers need: the cost model refuses it (and the
    spilled FFN2), every layer is lowered exactly as with the planner off, and the program
    says which lowering each layer got and why. (With 2 KiB SRAMs the spilled FFN2 has won
    since the per-kernel layers' weight ring, compiler/lower_linear.py: 5,436 cycles against
    5,656 per-kernel by the cost model.)"""
    cfg = MachineConfig(dim=8, sp_kib=1, acc_kib=2, max_seq=16)
    q = _quantized(tiny_model, cfg, 8)
    assert lf.candidates(cfg, lf.FfnShape(16, 4, 8, 1, 1, 1, True))
    off = lower_model(q, cfg, batch=2, seq=8, fuse_ffn=False)
    on = lower_model(q, cfg, batch=2, seq=8)
    assert list(on.meta["planner"]) == ["L0.ffn", "L1.ffn"]
    assert all(v.startswith("per-kernel: faster by the cost model")
               for v in on.meta["planner"].values())
    assert on.instructions == off.instructions
    assert "L0.ffn1_gelu" in [x["name"] for x in on.meta["layer_spans"]]


def test_program_cache_key_covers_the_planner():
    """The DSE's compiled-program cache (encore/dse/programs.py) is keyed by every compiler
    module and every isa module (the tiler prices tiles with isa/cycles.py's formulas): the
    planner's own modules and the cycle formulas are part of the key."""
    from pathlib import Path

    import compiler
    import isa
    from encore.dse import programs

    files = [f for mod in (compiler, isa) for f in sorted(Path(mod.__file__).parent.glob("*.py"))]
    names = {f.name for f in files}
    assert {"lower_ffn.py", "sram_plan.py", "cycles.py", "tile_cost.py"} <= names
    assert programs.compiler_digest() == programs._digest(files)
    for left_out in (("lower_ffn.py", "sram_plan.py"), ("cycles.py",)):
        without = [f for f in files if f.name not in left_out]
        assert programs.compiler_digest() != programs._digest(without), left_out


@pytest.mark.parametrize("act_bits", [16, 8])
@pytest.mark.parametrize("dim,sp_kib,acc_kib", [(4, 2, 4), (8, 4, 8)])
def test_spilled_ffn2_is_bit_exact_in_any_queue_order(tiny_model, monkeypatch, act_bits, dim,
                                                      sp_kib, acc_kib):
    """FFN2 with RESADD per column group, its int32 rows through DRAM and a LayerNorm pass
    (forced): every tensor of the per-kernel program reads back equal, in order and in three
    interleavings."""
    cfg = MachineConfig(dim=dim, sp_kib=sp_kib, acc_kib=acc_kib, max_seq=16)
    q = _quantized(tiny_model, cfg, act_bits)
    ref_prog = lower_model(q, cfg, batch=2, seq=8, fuse_ffn=False)
    inputs = _inputs(ref_prog, dim + 1)
    ref, _ = run_program(ref_prog, inputs)
    monkeypatch.setattr(lf, "plan_ffn", lambda cfg, s: (lf.SPILL, "spilled (forced)"))
    prog = lower_model(q, cfg, batch=2, seq=8)
    assert set(prog.meta["planner"].values()) == {"spilled (forced)"}
    assert {"L0.ffn2_acc", "L1.ffn2_acc"} <= set(prog.tensors)
    t = prog.tensor("L0.ffn2_acc")  # RESADD's int32 rows go out from the accumulator
    assert any(i.op == Opcode.STORE and i.f["mem"] == 1 and
               t.addr <= i.f["dram_addr"] < t.addr + t.nbytes(dim) for i in prog.instructions)
    runs = [run_program(prog, inputs)[0]]
    for seed in range(3):
        s = FunctionalSim(prog)
        for name, v in inputs.items():
            prog.write_tensor(s.dram, name, v)
        s.run_interleaved(seed)
        runs.append(s)
    for r in runs:
        for name in ref_prog.tensors:
            assert np.array_equal(prog.read_tensor(r.dram, name),
                                  ref_prog.read_tensor(ref.dram, name)), name
