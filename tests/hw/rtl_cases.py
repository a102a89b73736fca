"""Programs the cocotb tests run on the RTL, and helpers to compare with the functional sim."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from compiler.testprogs import linear_program
from isa import MachineConfig

RESULTS = Path(__file__).resolve().parents[2] / "results"

#: (m, k, n, bias, accumulate): shapes below, at and above DIM, non-multiples included.
LINEAR_CASES = [
    (1, 1, 1, False, False),
    (5, 7, 6, True, False),
    (9, 16, 8, False, True),
    (13, 21, 10, True, True),
    (3, 40, 17, True, False),
    (20, 9, 4, False, False),
]


def small_config(dim: int, **kw) -> MachineConfig:
    """hw.rtlsim.runner.small_machine with DRAM latency 16."""
    from hw.rtlsim.runner import small_machine

    return small_machine(dim, dram_latency=16, **kw)


def skip_unless(sim: str) -> None:
    from hw.rtlsim.runner import simulator_available

    reason = simulator_available(sim)
    if reason:
        pytest.skip(f"{sim} unavailable: {reason}")


def make_job(prog, inputs: dict, seed: int, max_cycles: int):
    """An RtlJob with the inputs written into a fresh DRAM image, random latency and
    back-pressure (latency 4..40, ready 70 % of cycles)."""
    from hw.rtlsim.runner import RtlJob

    dram = prog.new_dram()
    for name, value in inputs.items():
        prog.write_tensor(dram, name, value)
    return RtlJob(prog, dram, seed=seed, latency=(4, 40), ready_prob=0.7, max_cycles=max_cycles)


def linear_jobs(cfg: MachineConfig, cases=LINEAR_CASES):
    out = []
    for n, (m, k, nn, bias, acc) in enumerate(cases):
        prog, inputs, ref = linear_program(cfg, m, k, nn, bias=bias, accumulate=acc, seed=n)
        out.append((prog, inputs, ref, make_job(prog, inputs, 100 + n, 200_000)))
    return out


def run_and_check(dim: int, sim: str, tmp_path, cases, make_jobs, tag: str, check=None,
                  dram: str | None = None):
    """Run ``make_jobs(cfg, cases)`` on the RTL with the ``dram`` model (None: the simulator's
    default); every program must end without error, retire every instruction and leave DRAM
    byte-equal to the functional simulator's and ``y`` equal to the reference. ``check(case,
    prog)`` adds per-case assertions. Cycle counters are recorded under
    ``{tag}-{sim}-{dram}-dim{dim}``."""
    from hw.rtlsim.runner import run_jobs
    from sim.functional import run_program

    skip_unless(sim)
    cfg = small_config(dim)
    jobs = make_jobs(cfg, cases)
    results = run_jobs(cfg, [j[3] for j in jobs], sim=sim, dram=dram, workdir=tmp_path)
    cycles = {}
    for (prog, inputs, ref, _), res, case in zip(jobs, results, cases, strict=True):
        regs = res.regs
        assert not regs["timed_out"], f"{case}: no interrupt within the cycle limit"
        assert regs["model_errors"] == [], regs["model_errors"]
        assert regs["error"] == 0, f"{case}: error {regs['error']} at {regs['error_index']}"
        assert regs["irq"] == 1 and regs["status"] == 2
        assert regs["retired"] == len(prog.instructions)
        if check is not None:
            check(case, prog)
        func, _ = run_program(prog, inputs)
        diff = np.nonzero(res.dram != func.dram)[0]
        assert diff.size == 0, f"{case}: DRAM differs from the functional sim at bytes {diff[:16]}"
        np.testing.assert_array_equal(prog.read_tensor(res.dram, "y"), int32_wrap(ref["y"]))
        cycles[str(case)] = {k: regs[k] for k in ("cycles", "load_busy", "compute_busy",
                                                    "store_busy")}
    record_cycles(f"{tag}-{sim}-{dram or 'default'}-dim{dim}", cycles)
    return jobs, results


def record_cycles(key: str, entries: dict) -> None:
    """Merge measured RTL cycle counts into results/rtl_cycles.json (gitignored)."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "rtl_cycles.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[key] = entries
    path.write_text(json.dumps(data, indent=1, sort_keys=True))


def int32_wrap(x: np.ndarray) -> np.ndarray:
    return ((np.asarray(x, dtype=np.int64) + (1 << 31)) % (1 << 32)) - (1 << 31)
