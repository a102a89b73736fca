"""Linear-layer programs on the RTL under cocotb (Verilator; Icarus as the second simulator):
DRAM bit-exact against the functional simulator, results near a float nn.Linear, cycle counts
recorded in results/rtl_cycles.json."""

from __future__ import annotations

import numpy as np
import pytest

from .rtl_cases import LINEAR_CASES, linear_jobs, run_and_check

pytestmark = pytest.mark.rtl


def _run_and_check(dim: int, sim: str, tmp_path, cases=LINEAR_CASES, tag: str = "linear",
                   dram: str | None = None):
    return run_and_check(dim, sim, tmp_path, cases, linear_jobs, tag, dram=dram)


@pytest.mark.parametrize("dim", [4, 8])
def test_linear_programs_verilator(dim, tmp_path):
    _run_and_check(dim, "verilator", tmp_path)


@pytest.mark.slow
def test_linear_programs_verilator_dim16(tmp_path):
    _run_and_check(16, "verilator", tmp_path, LINEAR_CASES[:4])


def test_linear_programs_python_dram(tmp_path):
    """The protocol-checking Python DRAM model (random stalls on every channel)."""
    _run_and_check(4, "verilator", tmp_path, LINEAR_CASES[:3], dram="python")


@pytest.mark.slow
@pytest.mark.parametrize("dim", [4, 8])
def test_linear_programs_python_dram_all(dim, tmp_path):
    _run_and_check(dim, "verilator", tmp_path, dram="python")


def test_linear_programs_icarus(tmp_path):
    _run_and_check(4, "icarus", tmp_path, LINEAR_CASES[:3])


def test_matches_float_linear(tmp_path):
    """Dequantized RTL output against torch.nn.Linear on the dequantized operands."""
    torch = pytest.importorskip("torch")
    case = (6, 11, 9, True, False)
    jobs, results = _run_and_check(4, "verilator", tmp_path, [case], tag="float-check")
    prog, inputs, ref, _ = jobs[0]
    sx, sw = 0.02, 0.005  # activation and weight scales; bias at sx*sw (the accumulator scale)
    lin = torch.nn.Linear(case[1], case[2], dtype=torch.float64)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(ref["w"].T * sw))
        lin.bias.copy_(torch.tensor(ref["b"][0] * sx * sw))
        expect = lin(torch.tensor(inputs["x"] * sx)).numpy()
    got = prog.read_tensor(results[0].dram, "y") * (sx * sw)
    # The integer path is exact, so only float rounding separates the two.
    np.testing.assert_allclose(got, expect, rtol=1e-9, atol=1e-9)
