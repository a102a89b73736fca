"""Compiler-made programs with LAYERNORM, GELU and RESADD on the RTL under cocotb, with random
DRAM latency and back-pressure: the embedding LayerNorm, a linear layer with each epilogue and
a chain linear -> GELU -> linear -> RESADD -> LAYERNORM; DRAM byte-equal to the functional
simulator (tests/hw/rtl_vector_cases.py)."""

from __future__ import annotations

import pytest

from .rtl_cases import run_and_check
from .rtl_vector_cases import VECTOR_CASES, vector_jobs

pytestmark = pytest.mark.rtl


@pytest.mark.parametrize("dim", [4, 8])
def test_vector_programs_verilator(dim, tmp_path):
    run_and_check(dim, "verilator", tmp_path, VECTOR_CASES, vector_jobs, "vector")


def test_vector_programs_icarus(tmp_path):
    run_and_check(4, "icarus", tmp_path, VECTOR_CASES[::2] + VECTOR_CASES[-1:], vector_jobs,
                  "vector")


@pytest.mark.slow
def test_vector_programs_verilator_dim16(tmp_path):
    run_and_check(16, "verilator", tmp_path, VECTOR_CASES, vector_jobs, "vector")
