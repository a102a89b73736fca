"""Compiler-lowered attention (tests/hw/rtl_attn_cases.py) on the RTL under cocotb (Verilator;
Icarus a subset): with random DRAM latency and back-pressure, DRAM byte-equal to the functional
simulator; on the fixed-latency DRAM, the compute queue's busy cycles equal the timing model's
(isa.cycles.attn_cycles per ATTN) and the run is never faster than the model."""

from __future__ import annotations

import pytest

import sim.timing
from hw.rtlsim.runner import RtlJob, run_jobs

from .rtl_attn_cases import ATTN_CASES, ATTN_SLOW_CASES, attn_jobs, attn_program
from .rtl_cases import run_and_check, skip_unless, small_config

pytestmark = pytest.mark.rtl


@pytest.mark.parametrize("dim", [4, 8])
def test_attention_programs_verilator(dim, tmp_path):
    run_and_check(dim, "verilator", tmp_path, ATTN_CASES, attn_jobs, "attention")


def test_attention_programs_icarus(tmp_path):
    run_and_check(4, "icarus", tmp_path, ATTN_CASES[:2], attn_jobs, "attention")


@pytest.mark.slow
def test_attention_programs_verilator_long(tmp_path):
    run_and_check(4, "verilator", tmp_path, ATTN_SLOW_CASES, attn_jobs, "attention-long")


def test_attention_busy_equals_the_timing_model(tmp_path):
    skip_unless("verilator")
    cfg = small_config(4)
    progs = [attn_program(cfg, *case, seed=n) for n, case in enumerate(ATTN_CASES)]
    jobs = []
    for prog, inputs in progs:
        dram = prog.new_dram()
        for name, value in inputs.items():
            prog.write_tensor(dram, name, value)
        jobs.append(RtlJob.fixed(prog, dram))
    for (prog, _), res in zip(progs, run_jobs(cfg, jobs, workdir=tmp_path), strict=True):
        regs = res.regs
        assert regs["error"] == 0 and not regs["timed_out"]
        est = sim.timing.estimate(prog)
        units = est.to_dict()["units"]
        assert regs["compute_busy"] == units["attention"]["busy"]
        assert regs["store_busy"] == units["store_dma"]["busy"]
        assert est.cycles <= regs["cycles"]
