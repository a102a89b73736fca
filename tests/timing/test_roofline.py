"""The roofline bound of every estimate (sim/timing/roofline.py): hand-sized cases, which side
binds, estimate / bound >= 1, and the fields of the report's JSON."""

from __future__ import annotations

import json

import pytest

from compiler.testprogs import linear_program
from isa import MachineConfig
from sim.timing import dram_floor, estimate, roofline
from tests.helpers import save_bert


def test_a_hand_sized_bound_and_which_side_binds():
    cfg = MachineConfig(dim=8, dram_bytes_per_cycle=16)
    # 1000 MACs on 64 PEs: 15.6 -> 16 cycles; 4096 bytes read at 16 B/cycle: 256 cycles
    r = roofline(1000, 4096, 100, cfg, clock_mhz=200.0)
    assert (r.compute_cycles, r.memory_cycles, r.cycles, r.bound) == (16, 256, 256, "memory")
    assert r.ms == pytest.approx(256 / 200e3)
    assert r.ratio(512) == 2.0
    # writes alone: 1601 bytes at 16 B/cycle is 101 cycles; 64,000 MACs is 1000 cycles
    r = roofline(64_000, 10, 1601, cfg, clock_mhz=100.0)
    assert (r.compute_cycles, r.memory_cycles, r.bound) == (1000, 101, "compute")
    # reads and writes use separate channels: the slower one binds, not the sum
    r = roofline(0, 160, 160, cfg, clock_mhz=100.0)
    assert r.memory_cycles == 10 and r.bound == "memory"
    tie = roofline(64 * 10, 160, 0, cfg, clock_mhz=100.0)
    assert tie.compute_cycles == tie.memory_cycles == 10 and tie.bound == "compute"


def test_tensor_map_floor_of_a_hand_written_program():
    """No compiler meta: constants and inputs read once, outputs written once, real shapes."""
    cfg = MachineConfig(dim=16)
    prog, _, _ = linear_program(cfg, 32, 48, 64, bias=True)
    assert "dram_floor" not in prog.meta
    x, w, bias, y = 32 * 48, 48 * 64, 4 * 64, 4 * 32 * 64  # int8 x, w; int32 bias, y
    assert dram_floor(prog) == (x + w + bias, y)
    rep = estimate(prog)
    assert rep.roofline.dram_read == x + w + bias and rep.roofline.dram_written == y
    assert rep.roofline.cycles <= rep.cycles


@pytest.fixture(scope="module")
def small_bert(tmp_path_factory):
    import torch

    from compiler import compile_model

    folder = save_bert(tmp_path_factory.mktemp("m") / "bert", hidden=48, heads=3, ffn=80,
                       layers=2)
    cm = compile_model(str(folder), MachineConfig(dim=16), seq_len=16, lengths=[16, 9],
                       quant={"use_gptq": False})
    params = {n: p for n, p in cm.loaded.model.named_parameters()}
    assert all(p.dtype == torch.float32 for p in params.values())
    return cm.program, params


def test_compiled_floor_counts_the_models_real_parameters(small_bert):
    """Independent reference: the PyTorch model's parameters (matrices as int8, vectors as
    int32), not the embedding tables (gathered on the host) nor the pooler that transformers
    adds uninitialised (the compiler runs no head for this checkpoint), plus int32 embeddings
    of the 25 real tokens in and their 16-bit hidden states out (act_bits 16, the default: two
    bytes per element)."""
    prog, params = small_bert
    assert prog.meta["head"] is None  # the checkpoint has no pooler: the program runs none
    ref = sum(p.numel() * (1 if p.dim() == 2 else 4) for n, p in params.items()
              if ("embeddings" not in n or "LayerNorm" in n) and not n.startswith("pooler."))
    tokens, h = 16 + 9, 48
    assert prog.meta["act_bits"] == 16
    assert prog.meta["dram_floor"] == {"read": ref + 4 * tokens * h, "written": 2 * tokens * h}


@pytest.mark.parametrize("bw,side", [(1, "memory"), (2, "memory"), (256, "compute")])
def test_estimate_is_never_below_its_bound(small_bert, bw, side):
    prog, _ = small_bert
    cfg = prog.config.replace(dram_bytes_per_cycle=bw)
    rep = estimate(prog, config=cfg, clock_mhz=250.0)
    r = rep.roofline
    assert r.bound == side
    assert r.compute_cycles == rep.ideal_cycles
    assert r.memory_cycles == -(-max(prog.meta["dram_floor"].values()) // bw)
    assert rep.cycles >= r.cycles and r.ratio(rep.cycles) >= 1.0
    assert rep.dram_read >= r.dram_read and rep.dram_written >= r.dram_written
    d = json.loads(json.dumps(rep.to_dict()))["roofline"]
    assert set(d) == {"cycles", "ms", "bound", "ratio", "compute_cycles", "memory_cycles",
                      "dram_bytes"}
    assert d["cycles"] == r.cycles and d["bound"] == side
    assert d["ratio"] == pytest.approx(rep.cycles / r.cycles)
    assert d["ms"] == pytest.approx(r.cycles / 250e3)
    assert f"estimate / bound {rep.cycles / r.cycles:.3f}" in rep.format()
