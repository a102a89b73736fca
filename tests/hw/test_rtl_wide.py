"""16-bit activations (ISA version 2) on the whole RTL under cocotb: the hand-built program of
tests/hw/rtl_wide_cases.py (two-pass 16-bit GEMMs with ``shift8``, REQUANT / GELU / LAYERNORM
``plane`` outputs, a GEMM reading a computed 16-bit tile, RESADD ``res_wide``).

* With random DRAM latency and back-pressure: DRAM byte-equal to the functional simulator, the
  16-bit results exact (C = X @ W) and spread over the 16-bit range, both ends included.
* On the fixed-latency DRAM: every unit's busy counter and the whole run's cycles equal the
  timing model's (the new fields change no cycle count).
* Errors: ``plane = 3`` (BAD_FIELD, before the range checks), the wide residual's range
  (SRAM_RANGE for both planes where one plane fits): the functional simulator's code and
  index, the instructions before it retired, DRAM holding exactly their effect.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import sim.timing
from hw.rtlsim.runner import RtlJob, run_jobs
from isa import ErrorCode, Instruction, Opcode, numerics
from sim.errors import SimError
from sim.functional import run_program

from .rtl_cases import record_cycles, skip_unless, small_config
from .rtl_wide_cases import NB, M, wide_outputs, wide_program

pytestmark = pytest.mark.rtl


def _check_outputs(prog, meta, dram):
    """The program's results: C exact, the 16-bit outputs over the range, both ends."""
    d = prog.config.dim
    out = wide_outputs(prog, dram, meta)
    c = out["c"].reshape(NB, M, d).transpose(1, 0, 2).reshape(M, NB * d)
    assert np.array_equal(c, meta["x"] @ meta["w"])
    for name in ("y1", "y2", "y3"):
        v = out[name]
        assert (v == numerics.WIDE_MAX).any() and (v == numerics.WIDE_MIN).any(), name
        inside = (np.abs(v) > 127) & (v > numerics.WIDE_MIN) & (v < numerics.WIDE_MAX)
        assert inside.sum() >= 10, name
        if name != "y1":  # its int8 plane is the same result saturated to int8
            assert np.array_equal(out[name + "_int8"], numerics.sat8(v)), name
    assert np.unique(out["c3"]).size > 10


def _run_program(dim, sim_name, tmp_path):
    skip_unless(sim_name)
    cfg = small_config(dim)
    prog, meta = wide_program(cfg, seed=dim)
    func, _ = run_program(prog, {})
    _check_outputs(prog, meta, func.dram)  # the test data reach what the test claims
    jobs = [RtlJob(prog, prog.new_dram(), seed=s, latency=(4, 40), ready_prob=0.7,
                   max_cycles=100_000) for s in (1, 2)]
    if sim_name == "verilator":
        jobs.append(RtlJob.fixed(prog, prog.new_dram(), max_cycles=100_000))
    results = run_jobs(cfg, jobs, sim=sim_name, workdir=tmp_path)
    for res in results:
        regs = res.regs
        assert not regs["timed_out"] and regs["model_errors"] == []
        assert regs["error"] == 0, (regs["error"], regs["error_index"])
        assert regs["retired"] == len(prog.instructions)
        diff = np.nonzero(res.dram != func.dram)[0]
        assert diff.size == 0, f"DRAM differs from the functional sim at bytes {diff[:16]}"
    if sim_name != "verilator":
        return
    regs = results[-1].regs
    est = sim.timing.estimate(prog)
    units = est.to_dict()["units"]
    assert regs["compute_busy"] == units["array"]["busy"] + units["vector"]["busy"]
    assert regs["load_busy"] == units["load_dma"]["busy"]
    assert regs["store_busy"] == units["store_dma"]["busy"]
    assert regs["cycles"] == est.cycles, (regs["cycles"], est.cycles)
    record_cycles(f"wide-fixed-latency-dim{dim}",
                  {"wide_program": {"rtl_cycles": regs["cycles"], "model_cycles": est.cycles}})


@pytest.mark.parametrize("dim", [4, 8])
def test_wide_program_verilator(dim, tmp_path):
    _run_program(dim, "verilator", tmp_path)


@pytest.mark.slow
def test_wide_program_verilator_dim16(tmp_path):
    _run_program(16, "verilator", tmp_path)


def test_wide_program_icarus(tmp_path):
    _run_program(4, "icarus", tmp_path)


def _error_cases(cfg):
    prog, _ = wide_program(cfg, seed=3)
    ins = prog.instructions
    first = {op: next(i for i, x in enumerate(ins) if x.op == op)
             for op in (Opcode.REQUANT, Opcode.GELU, Opcode.RESADD, Opcode.LAYERNORM)}

    def patched(op, nth=0, **fields):
        at = [i for i, x in enumerate(ins) if x.op == op][nth]
        new = Instruction(op, **{**ins[at].f, **fields})
        return dataclasses.replace(prog, instructions=ins[:at] + [new] + ins[at + 1:]), at

    BF, SR = ErrorCode.BAD_FIELD, ErrorCode.SRAM_RANGE
    t = ins[first[Opcode.RESADD]].rows * ins[first[Opcode.RESADD]].blocks
    cases = [
        ("requant_plane_3", *patched(Opcode.REQUANT, plane=3), BF),
        ("requant_low_plane_3", *patched(Opcode.REQUANT, 1, plane=3), BF),
        ("gelu_plane_3", *patched(Opcode.GELU, 2, plane=3), BF),
        ("gelu_plane_3_before_dst", *patched(Opcode.GELU, plane=3, dst=cfg.sp_rows - 1), BF),
        ("gelu_plane_3_before_src", *patched(Opcode.GELU, plane=3, src=cfg.acc_rows - 1), BF),
        ("layernorm_plane_3", *patched(Opcode.LAYERNORM, 1, plane=3), BF),
        ("layernorm_plane_3_before_param",
         *patched(Opcode.LAYERNORM, plane=3, param=cfg.acc_rows - 2), BF),
        ("layernorm_zero_rows_and_plane_3", *patched(Opcode.LAYERNORM, plane=3, rows=0), BF),
        # One plane of the residual fits below the scratchpad's end, two do not.
        ("resadd_wide_res_range", *patched(Opcode.RESADD, res=cfg.sp_rows - t - 1), SR),
        ("resadd_wide_res_range_exact", *patched(Opcode.RESADD, res=cfg.sp_rows - 2 * t + 1),
         SR),
    ]
    # The wide residual ending exactly at the last row is fine (its data: whatever is there).
    ok, _ = patched(Opcode.RESADD, res=cfg.sp_rows - 2 * t)
    return cases, ok


def test_wide_errors_stop_cleanly(tmp_path):
    skip_unless("verilator")
    cfg = small_config(4)
    cases, ok = _error_cases(cfg)
    jobs = [RtlJob(p, p.new_dram(), seed=7, latency=(2, 30), max_cycles=50_000)
            for _, p, _, _ in cases]
    jobs.append(RtlJob(ok, ok.new_dram(), seed=8, latency=(2, 30), max_cycles=100_000))
    results = run_jobs(cfg, jobs, workdir=tmp_path)
    for (name, prog, index, code), res in zip(cases, results[:-1], strict=True):
        regs = res.regs
        assert not regs["timed_out"], f"{name}: the run did not finish (hang)"
        assert regs["irq"] == 1 and regs["status"] == 2, name
        assert (ErrorCode(regs["error"]), regs["error_index"]) == (code, index), name
        assert regs["retired"] == index, name
        with pytest.raises(SimError) as err:  # the functional simulator agrees
            run_program(prog, {})
        assert (err.value.code, err.value.index) == (code, index), name
        before, _ = run_program(dataclasses.replace(prog, instructions=prog.instructions[:index]))
        diff = np.nonzero(res.dram != before.dram)[0]
        assert diff.size == 0, f"{name}: DRAM differs from the state before the error at {diff[:8]}"
    res = results[-1]
    assert res.regs["error"] == 0 and res.regs["retired"] == len(ok.instructions)
    func, _ = run_program(ok, {})
    assert np.array_equal(res.dram, func.dram)
