"""Programs the cocotb tests run on the RTL, and helpers to compare with the functional sim."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

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
    """Small SRAMs keep the generated Verilog (and its build) small; latency as the model's."""
    return MachineConfig(dim=dim, sp_kib=max(4, dim * dim // 16), acc_kib=max(4, dim * dim // 16),
                         dram_latency=16, **kw)


def linear_jobs(cfg: MachineConfig, cases=LINEAR_CASES):
    from hw.rtlsim.runner import RtlJob

    out = []
    for n, (m, k, nn, bias, acc) in enumerate(cases):
        prog, inputs, ref = linear_program(cfg, m, k, nn, bias=bias, accumulate=acc, seed=n)
        dram = prog.new_dram()
        for name, value in inputs.items():
            prog.write_tensor(dram, name, value)
        out.append((prog, inputs, ref, RtlJob(prog, dram, seed=100 + n, latency=(4, 40),
                                               ready_prob=0.7, max_cycles=200_000)))
    return out


def record_cycles(key: str, entries: dict) -> None:
    """Merge measured RTL cycle counts into results/rtl_cycles.json (gitignored)."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "rtl_cycles.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[key] = entries
    path.write_text(json.dumps(data, indent=1, sort_keys=True))


def int32_wrap(x: np.ndarray) -> np.ndarray:
    return ((np.asarray(x, dtype=np.int64) + (1 << 31)) % (1 << 32)) - (1 << 31)
