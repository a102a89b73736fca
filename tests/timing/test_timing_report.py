"""estimate() and TimingReport on compiler test programs and hand-made ones."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from timing_progs import gemm, load, program, store

from compiler.testprogs import linear_program
from isa import MachineConfig
from sim import run_program
from sim.timing import estimate, layer_ranges

CFG = MachineConfig(dim=16)


@pytest.mark.parametrize("dim,m,k,n,bias,acc", [(4, 8, 12, 8, False, False),
                                                 (8, 40, 24, 20, True, False),
                                                 (16, 64, 96, 80, True, True)])
def test_macs_and_dram_traffic_match_the_functional_simulator(dim, m, k, n, bias, acc):
    prog, inputs, _ = linear_program(MachineConfig(dim=dim), m, k, n, bias=bias, accumulate=acc)
    _, stats = run_program(prog, inputs)
    rep = estimate(prog)
    assert rep.macs == stats.macs
    assert (rep.dram_read, rep.dram_written) == (stats.dram_read, stats.dram_written)
    assert rep.by_opcode.keys() == stats.by_opcode.keys()
    assert {k: v["count"] for k, v in rep.by_opcode.items()} == stats.by_opcode


@settings(max_examples=12, deadline=None)
@given(mult=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)),
       small=st.sampled_from([4, 8, 16]))
def test_a_larger_array_never_slows_a_compute_bound_matmul(mult, small):
    big = 2 * small
    m, k, n = (big * x for x in mult)
    m *= 4  # at least 4*big rows: the array streams, weight preloads stay hidden
    fast_dram = dict(dram_bytes_per_cycle=1024, dram_latency=0)
    cycles = {}
    for d in (small, big):
        prog, _, _ = linear_program(MachineConfig(dim=d, **fast_dram), m, k, n)
        cycles[d] = estimate(prog).cycles
    assert cycles[big] <= cycles[small]


def test_layer_cycles_add_up_and_name_every_span():
    instrs = [load(push_next=1), gemm(pop_prev=1, push_next=1), store(pop_prev=1),
              load(), gemm(rows=64, kblocks=8)]
    spans = [{"name": "first", "start": 0, "end": 3}, {"name": "second", "start": 4, "end": 5}]
    rep = estimate(program(CFG, instrs, layer_spans=spans))
    assert [layer.name for layer in rep.layers] == ["first", "(other)", "second"]
    assert sum(layer.cycles for layer in rep.layers) == rep.cycles
    assert sum(layer.macs for layer in rep.layers) == rep.macs
    assert rep.layers[0].bound == "memory" and rep.layers[2].bound == "compute"


@pytest.mark.parametrize("spans,message", [
    ("L0", "must be a list"),
    ([{"name": "a", "start": 0}], r"\[0\] = .* is invalid: expected a dict"),
    ([{"name": "a", "start": 2, "end": 1}], r"covers instructions \[2, 1\)"),
    ([{"name": "a", "start": 0, "end": 2}, {"name": "b", "start": 1, "end": 3}],
     r"\[1\] \('b'\) covers instructions \[1, 3\): expected 2 <= start"),
    ([{"name": "a", "start": 0, "end": 9}], r"end <= 3"),
])
def test_malformed_layer_spans_are_rejected_clearly(spans, message):
    with pytest.raises(ValueError, match=message):
        layer_ranges({"layer_spans": spans}, 3)


def test_report_dict_has_the_agreed_keys_and_is_json():
    prog, _, _ = linear_program(CFG, 32, 48, 32, bias=True)
    rep = estimate(prog, clock_mhz=250.0)
    d = json.loads(json.dumps(rep.to_dict()))
    for key in ("cycles", "latency_ms", "clock_mhz", "utilization", "dram_bytes", "units",
                "layers"):
        assert key in d
    assert d["latency_ms"] == pytest.approx(rep.cycles / 250e3)
    assert set(d["units"]) == {"array", "vector", "attention", "load_dma", "store_dma"}
    assert set(d["units"]["array"]) == {"busy", "stall", "starved", "idle"}
    assert set(d["layers"][0]) >= {"name", "cycles", "macs", "utilization", "bound", "dram_bytes"}
    assert d["overlap_bound"] == max(d["queue_busy"].values()) <= rep.cycles
    text = rep.format()
    assert f"cycles {rep.cycles:,}" in text and "load_dma" in text and "GEMM" in text


def test_useful_macs_come_from_program_meta():
    prog = program(CFG, [gemm(rows=16, kblocks=2)], macs=16 * 20 * 16)
    rep = estimate(prog)
    assert rep.macs == 16 * 2 * 256 and rep.model_macs == 16 * 20 * 16
    assert rep.utilization == pytest.approx(16 * 20 * 16 / (256 * rep.cycles))


def test_retiming_with_another_bandwidth_keeps_the_program():
    prog, _, _ = linear_program(CFG, 64, 256, 64)
    slow = estimate(prog, config=CFG.replace(dram_bytes_per_cycle=2))
    fast = estimate(prog, config=CFG.replace(dram_bytes_per_cycle=64))
    assert fast.cycles < slow.cycles and fast.macs == slow.macs


@pytest.mark.parametrize("kwargs,exc,message", [
    ({"clock_mhz": 0}, ValueError, r"clock_mhz=0 is invalid: expected a finite number > 0"),
    ({"clock_mhz": float("nan")}, ValueError, "clock_mhz=nan is invalid"),
    ({"clock_mhz": "200"}, TypeError, "clock_mhz must be a number"),
    ({"config": MachineConfig(dim=8)}, ValueError,
     "config.dim=8 differs from the program's dim=16"),
    ({"config": {"dim": 16}}, TypeError, "config must be an isa.MachineConfig"),
])
def test_bad_arguments_raise_clear_errors(kwargs, exc, message):
    with pytest.raises(exc, match=message):
        estimate(program(CFG, [gemm()]), **kwargs)


def test_estimate_rejects_a_non_program():
    with pytest.raises(TypeError, match="needs an isa.Program, not list"):
        estimate([gemm()])
