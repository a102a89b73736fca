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


def test_rtl_command_runs_up_to_an_unimplemented_opcode(tmp_path, capsys):
    """``encore rtl`` on a program with an ATTN (no engine yet): the RTL stops there with
    UNIMPLEMENTED and DRAM equals the functional simulator's after the instructions before."""
    import dataclasses

    import numpy as np

    from encore.cli import main
    from isa import Instruction, Opcode

    from .rtl_cases import skip_unless, small_config
    from .rtl_vector_cases import vector_program

    skip_unless("verilator")
    prog, inputs = vector_program(small_config(4), "chain", 6, 7, 9, seed=2)
    at = next(i for i, x in enumerate(prog.instructions) if x.op == Opcode.RESADD)
    attn = Instruction(Opcode.ATTN, q_addr=0, k_addr=0, v_addr=0, o_addr=0, param=0, seq=4,
                       hd_blocks=1)
    prog = dataclasses.replace(prog, instructions=prog.instructions[:at] + [attn]
                               + prog.instructions[at:])
    prog.save(tmp_path / "p.encore")
    np.savez(tmp_path / "in.npz", **inputs)
    rc = main(["rtl", str(tmp_path / "p.encore"), "--inputs", str(tmp_path / "in.npz")])
    out = capsys.readouterr().out
    assert rc == 3, out
    assert f"RTL stopped with UNIMPLEMENTED at instruction {at}" in out
    assert (f"does not implement ATTN (instruction {at}); DRAM matches the functional "
            f"simulator's state after instructions 0..{at - 1} bit for bit") in out
