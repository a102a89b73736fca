"""The linear-layer tiler, the emitter's dependency tokens and the functional simulator on odd
shapes: exact against numpy, also when the queues run in a random concurrent order."""

import numpy as np
import pytest

from compiler.lower_linear import _fit, plan
from compiler.testprogs import linear_chain_program, linear_program
from isa import MachineConfig, Opcode
from sim import FunctionalSim, SimError, run_program

SHAPES = [(1, 1, 1), (5, 7, 9), (33, 50, 21), (70, 130, 45), (128, 64, 16), (17, 200, 3)]


@pytest.mark.parametrize("dim", [4, 8, 16])
@pytest.mark.parametrize("m,k,n", SHAPES)
@pytest.mark.parametrize("bias,accumulate", [(False, False), (True, False), (True, True)])
def test_linear_exact(dim, m, k, n, bias, accumulate):
    cfg = MachineConfig(dim=dim, sp_kib=dim, acc_kib=dim)  # 1024 / 256 rows: forces tiling
    prog, inputs, ref = linear_program(cfg, m, k, n, bias=bias, accumulate=accumulate, seed=m)
    sim, _ = run_program(prog, inputs)
    assert np.array_equal(prog.read_tensor(sim.dram, "y"), ref["y"])


def _exact_in_random_orders(prog, inputs, ref, seeds) -> None:
    """The queues run in a random concurrent order per seed; ``y`` must stay exact."""
    for seed in seeds:
        s = FunctionalSim(prog)
        for name, v in inputs.items():
            prog.write_tensor(s.dram, name, v)
        s.run_interleaved(seed)
        assert np.array_equal(prog.read_tensor(s.dram, "y"), ref["y"]), seed


@pytest.mark.parametrize("dim", [4, 16])
def test_chain_exact_in_any_queue_order(dim):
    cfg = MachineConfig(dim=dim, sp_kib=dim // 2, acc_kib=dim)
    prog, inputs, ref = linear_chain_program(cfg, 37, [20, 50, 33, 17], seed=3)
    sim, _ = run_program(prog, inputs)
    assert np.array_equal(prog.read_tensor(sim.dram, "y"), ref["y"])
    _exact_in_random_orders(prog, inputs, ref, range(8))


def test_tokens_are_needed():
    """Dropping the dependency flags makes some random concurrent order go wrong."""
    cfg = MachineConfig(dim=4, sp_kib=2, acc_kib=4)
    prog, inputs, ref = linear_chain_program(cfg, 37, [20, 50, 33, 17], seed=3)
    prog.instructions = [i.with_deps(pop_prev=0, pop_next=0, push_prev=0, push_next=0)
                         for i in prog.instructions if i.op != Opcode.NOP]
    wrong = 0
    for seed in range(8):
        s = FunctionalSim(prog)
        for name, v in inputs.items():
            prog.write_tensor(s.dram, name, v)
        try:
            s.run_interleaved(seed)
        except SimError:  # e.g. parameters read before they were loaded
            wrong += 1
            continue
        wrong += not np.array_equal(prog.read_tensor(s.dram, "y"), ref["y"])
    assert wrong > 0


def test_plan_prefers_one_m_tile_and_reports_misfit():
    cfg = MachineConfig()
    p = plan(cfg, 128, [48], 48, "requant")
    assert p.m_tile == 128 and p.sp_rows <= cfg.sp_rows and p.acc_rows <= cfg.acc_rows
    with pytest.raises(ValueError, match="does not fit the scratchpad"):
        plan(MachineConfig(dim=4, sp_kib=1, acc_kib=1), 64, [200], 8, "resadd_ln")


def test_linear_program_rejects_bad_shapes():
    with pytest.raises(ValueError, match="m=0: expected a positive int"):
        linear_program(MachineConfig(dim=4), 0, 3, 3)


def test_plan_chunks_tall_weights_before_splitting_rows():
    """bert-base FFN2 at DIM 64 (K 3072 = 48 blocks, default SRAMs): with whole weight blocks
    (2 x 3072 scratchpad rows) the rows split into 10 tiles, each streaming all weights again;
    K chunks of the weights leave room for 3 tiles of 43 rows."""
    cfg = MachineConfig(dim=64)
    p = plan(cfg, 128, [48], 12, "resadd_ln")
    assert (p.m_tile, p.k_chunk) == (43, 15) and p.sp_rows <= cfg.sp_rows
    assert _fit(cfg, 128, [48], 12, "resadd_ln", tiles=9, kc=48) is None
    assert _fit(cfg, 128, [48], 12, "resadd_ln", tiles=10, kc=48) is not None
    assert plan(MachineConfig(dim=16), 128, [192], 48, "resadd_ln").k_chunk == 192  # fits whole


@pytest.mark.parametrize("accumulate", [False, True])
def test_k_chunked_linear_exact_in_any_queue_order(accumulate):
    cfg = MachineConfig(dim=4, sp_kib=2, acc_kib=4)  # 512 SP rows: K = 300 must be chunked
    prog, inputs, ref = linear_program(cfg, 24, 300, 10, bias=True, accumulate=accumulate,
                                       seed=5)
    gemm_k = {i.kblocks for i in prog.instructions if i.op == Opcode.GEMM}
    assert max(gemm_k) < 75  # 300 / DIM K-blocks, split into chunks
    sim, _ = run_program(prog, inputs)
    assert np.array_equal(prog.read_tensor(sim.dram, "y"), ref["y"])
    _exact_in_random_orders(prog, inputs, ref, range(4))
