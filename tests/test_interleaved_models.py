"""FunctionalSim.run_interleaved on whole compiled models (embedding LayerNorm, attention,
GELU, RESADD + LAYERNORM epilogues): any queue interleaving the dependency tokens allow leaves
DRAM byte-equal to the in-order run."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.pipeline import compile_model
from isa import MachineConfig, Opcode
from sim import FunctionalSim, run_program
from tests.helpers import save_bert


@pytest.mark.parametrize("act_bits", [16, 8])
@pytest.mark.parametrize("dim", [4, pytest.param(8, marks=pytest.mark.slow)])
def test_compiled_model_is_exact_in_any_queue_order(tmp_path, dim, act_bits):
    folder = save_bert(tmp_path / "m", hidden=32, heads=2, ffn=64, layers=1, max_pos=16)
    prog = compile_model(str(folder), MachineConfig(dim=dim, sp_kib=16, acc_kib=16),
                         seq_len=8, act_bits=act_bits).program
    ops = {ins.op for ins in prog.instructions}
    assert {Opcode.LAYERNORM, Opcode.ATTN, Opcode.GELU, Opcode.RESADD} <= ops
    # 16-bit: two-pass GEMMs and a 16-bit residual (the planes are what the tokens must cover)
    assert any(i.op == Opcode.GEMM and i.f["shift8"] for i in prog.instructions) == \
        (act_bits == 16)
    assert any(i.op == Opcode.RESADD and i.f["res_wide"] for i in prog.instructions) == \
        (act_bits == 16)
    rng = np.random.default_rng(dim)
    inputs = {n: rng.integers(-(1 << 12), 1 << 12, (t.rows, t.cols))
              for n, t in prog.tensors.items() if t.role == "input"}
    ref, _ = run_program(prog, inputs)
    for seed in range(4):
        s = FunctionalSim(prog)
        for name, v in inputs.items():
            prog.write_tensor(s.dram, name, v)
        s.run_interleaved(seed)
        diff = np.nonzero(s.dram != ref.dram)[0]
        assert diff.size == 0, (seed, diff[:8])
