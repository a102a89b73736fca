"""The timing model on programs from the real compiler (slow: compiles a model)."""

from __future__ import annotations

import time

import pytest

from isa import MachineConfig
from sim.timing import estimate


@pytest.mark.slow
@pytest.mark.parametrize("model,seq,budget_s", [("minilm-l6", 128, 5.0), ("bert-base", 128, 5.0)])
def test_compiled_model_is_timed_fast_and_consistently(model, seq, budget_s):
    from compiler import compile_model

    program = compile_model(model, MachineConfig(dim=16), seq_len=seq).program
    t = time.perf_counter()
    rep = estimate(program)
    elapsed = time.perf_counter() - t
    assert elapsed < budget_s, f"timing {model} took {elapsed:.2f} s"
    assert rep.model_macs == program.meta["macs"]
    assert rep.ideal_cycles <= rep.overlap_bound <= rep.cycles
    assert sum(layer.cycles for layer in rep.layers) == rep.cycles
    names = [layer.name for layer in rep.layers]
    assert names[:2] == ["embeddings.layernorm", "L0.qkv"]
    assert all(layer.bound in ("compute", "memory") for layer in rep.layers)
    faster = estimate(program, config=program.config.replace(dram_bytes_per_cycle=64))
    assert faster.cycles <= rep.cycles
