"""The two DRAM models behind the RTL: the fast Verilog memory (hw/rtlsim/axi_mem.v in the
encore_sim wrapper) and the protocol-checking Python AxiDram. Without stalls they must give the
same DRAM bytes and the same cycle counters; the fast model's seeded stalls must be repeatable
and leave results unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.testprogs import linear_chain_program
from hw.rtlsim.hexmem import read_hex, write_hex
from hw.rtlsim.runner import public_config
from hw.rtlsim.wrapper import sim_ports, sim_top, top_ports
from sim.functional import run_program

from .rtl_cases import skip_unless, small_config

COUNTERS = ("cycles", "load_busy", "compute_busy", "store_busy", "retired", "error")


def _chain(cfg, seed=5):
    prog, inputs, _ = linear_chain_program(cfg, 7, [9, 6, 11], seed=seed)
    dram = prog.new_dram()
    for name, value in inputs.items():
        prog.write_tensor(dram, name, value)
    return prog, inputs, dram


@pytest.mark.rtl
def test_both_models_agree_without_stalls(tmp_path):
    from hw.rtlsim.runner import RtlJob, run_jobs

    skip_unless("verilator")
    cfg = small_config(4)
    prog, inputs, dram = _chain(cfg)
    out = {}
    for model in ("fast", "python"):
        # Latency 64: enough requests in flight to fill a too-small request queue.
        job = RtlJob(prog, dram, latency=(64, 64), ready_prob=1.0, valid_prob=1.0,
                     write_latency=64)
        res = run_jobs(cfg, [job], dram=model, workdir=tmp_path / model)[0]
        assert not res.regs["timed_out"] and res.regs["model_errors"] == []
        out[model] = res
    func, _ = run_program(prog, inputs)
    np.testing.assert_array_equal(out["fast"].dram, out["python"].dram)
    np.testing.assert_array_equal(out["fast"].dram, func.dram)
    assert {k: out["fast"].regs[k] for k in COUNTERS} == \
        {k: out["python"].regs[k] for k in COUNTERS}


@pytest.mark.rtl
def test_fast_model_stalls_are_seeded(tmp_path):
    """Random latency and back-pressure generated inside the Verilog model: the same seed gives
    the same cycles, another seed other cycles, and every run the functional sim's DRAM."""
    from hw.rtlsim.runner import RtlJob, run_jobs

    skip_unless("verilator")
    cfg = small_config(4)
    prog, inputs, dram = _chain(cfg)
    stall = {"latency": (4, 40), "ready_prob": 0.6, "valid_prob": 0.7}
    jobs = [RtlJob.fixed(prog, dram)] + [RtlJob(prog, dram, seed=s, **stall) for s in (1, 2, 1)]
    res = run_jobs(cfg, jobs, workdir=tmp_path)
    func, _ = run_program(prog, inputs)
    for r in res:
        assert r.error == 0 and r.regs["model_errors"] == [] and not r.regs["timed_out"]
        np.testing.assert_array_equal(r.dram, func.dram)
    fixed, s1, s2, s1_again = (r.cycles for r in res)
    assert s1 == s1_again and s1 != s2
    assert min(s1, s2) > fixed


def test_hex_image_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=100, dtype=np.uint8)
    words = write_hex(tmp_path / "m.hex", image, 16)
    assert words == 7
    first = (tmp_path / "m.hex").read_text().splitlines()[0]
    assert first == image[:16][::-1].tobytes().hex()  # byte 0 in the low bits
    back = read_hex(tmp_path / "m.hex", 16)
    np.testing.assert_array_equal(back[:100], image)
    assert not back[100:].any()


def test_wrapper_follows_the_port_list():
    from hw.top import generate_verilog

    text = generate_verilog(small_config(4), name="encore_top")
    top = sim_top(text, 1024)
    header = top[: top.index(");")]
    ports = top_ports(text)
    for name, (direction, width) in ports.items():
        # every port of encore_top is connected by name; the reset through a register
        inner = "rst_q" if name == "rst" else name
        assert f".{name}({inner})" in top
        if not name.startswith("dram__"):
            decl = f"[{width - 1}:0] {name}" if width > 1 else name
            assert f"{direction} {decl}" in header
    assert "reg rst_q = 1'b1;" in top and "always @(posedge clk) rst_q <= rst;" in top
    assert "dram__" not in header and "input [31:0] mem_size_words" in header
    # sim_ports names exactly the ports of the header (the ones made public to cocotb)
    declared = [line.split()[-1].rstrip(",") for line in header.splitlines()[2:]]
    assert sim_ports(text) == declared and "rst_q" not in declared
    # and only they are public in the Verilator build (no wildcard: see runner.PUBLIC_VLT)
    vlt = public_config("encore_sim", sim_ports(text))
    assert "*" not in vlt and vlt.count("public_flat_rw") == len(declared)
    assert 'public_flat_rw -module "encore_sim" -var "mem_errors"' in vlt
    broken = text.replace("dram__arvalid", "dram__xvalid")
    with pytest.raises(ValueError, match=r"no dram__ ports \['arvalid'\]"):
        sim_top(broken, 1024)
