"""AXI error responses on the RTL: a SLVERR or DECERR on the R channel of a LOAD or of an
instruction fetch, or on the B channel of a STORE, ends the run with ErrorCode.BUS_ERROR at
the failing instruction's index (hardware only: docs/isa.md), raises the interrupt, and leaves
no AXI transaction open (the DRAM model checks every burst completes; the next job runs)."""

from __future__ import annotations

import pytest

from hw.rtlsim.dram_model import DECERR, SLVERR
from hw.rtlsim.runner import RtlJob, place_program, run_jobs, simulator_available
from isa import INSTR_BYTES, ErrorCode, Mem, Opcode

from .rtl_cases import linear_jobs, small_config

pytestmark = pytest.mark.rtl
DIM = 4


def _burst_starts(ins, bus: int) -> set[int]:
    """Bus-aligned start addresses of the bursts of a LOAD / STORE (rows do not cross 4 KiB in
    these programs)."""
    esize = 4 if ins.mem == Mem.ACC else 1
    assert all((ins.dram_addr + r * ins.dram_stride) // 4096
               == (ins.dram_addr + r * ins.dram_stride + ins.cols * esize - 1) // 4096
               for r in range(ins.rows))
    return {(ins.dram_addr + r * ins.dram_stride) & ~(bus - 1) for r in range(ins.rows)}


def _dma_case(prog, op: Opcode, which: int, bus: int):
    """(resp range, expected index): the ``which``-th ``op``'s first burst fails; the first
    instruction in program order with a burst there is the one reported."""
    dma = [i for i, x in enumerate(prog.instructions) if x.op == op]
    target = prog.instructions[dma[which]]
    addr = target.dram_addr & ~(bus - 1)
    first = min(i for i in dma if addr in _burst_starts(prog.instructions[i], bus))
    return (addr, addr + 1), first


def test_error_responses_end_the_run_with_bus_error(tmp_path):
    reason = simulator_available("verilator")
    if reason:
        pytest.skip(reason)
    cfg = small_config(DIM)
    bus = cfg.dram_bytes_per_cycle
    prog, inputs, _, _ = linear_jobs(cfg, [(6, 9, 5, True, False)])[0]
    dram = prog.new_dram()
    for k, v in inputs.items():
        prog.write_tensor(dram, k, v)
    _, prog_addr, _ = place_program(prog, dram)
    (l_lo, l_hi), l_idx = _dma_case(prog, Opcode.LOAD, 2, bus)
    (s_lo, s_hi), s_idx = _dma_case(prog, Opcode.STORE, 0, bus)
    f_idx = 4
    f_lo = prog_addr + f_idx * INSTR_BYTES
    cases = [  # (name, resp_errors, expected error, expected index)
        ("load_slverr", [("r", l_lo, l_hi, SLVERR)], ErrorCode.BUS_ERROR, l_idx),
        ("fetch_decerr", [("r", f_lo, f_lo + 1, DECERR)], ErrorCode.BUS_ERROR, f_idx),
        ("store_slverr", [("b", s_lo, s_hi, SLVERR)], ErrorCode.BUS_ERROR, s_idx),
        ("load_decerr_and_fetch", [("r", l_lo, l_hi, DECERR),
                                   ("r", prog_addr + (l_idx + 3) * INSTR_BYTES,
                                    prog_addr + (l_idx + 3) * INSTR_BYTES + 1, SLVERR)],
         ErrorCode.BUS_ERROR, l_idx),
        ("clean", [], ErrorCode.NONE, 0),
    ]
    jobs = [RtlJob(prog, dram.copy(), seed=5 + n, latency=(2, 30), ready_prob=0.8,
                   max_cycles=50_000, resp_errors=errs)
            for n, (_, errs, _, _) in enumerate(cases)]
    results = run_jobs(cfg, jobs, workdir=tmp_path)
    for (name, errs, code, index), res in zip(cases, results, strict=True):
        regs = res.regs
        assert not regs["timed_out"], f"{name}: the run did not finish (hang)"
        assert regs["model_errors"] == [], (name, regs["model_errors"])
        assert regs["irq"] == 1 and regs["status"] == 2, name
        assert (ErrorCode(regs["error"]), regs["error_index"]) == (code, index), name
        assert bool(regs["injected"]) == bool(errs), name
        assert regs["outstanding"] == 0, f"{name}: an AXI transaction was left open"
    assert results[-1].regs["retired"] == len(prog.instructions)
