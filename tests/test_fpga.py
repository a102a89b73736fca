"""``encore fpga``: clear errors (unknown target, does not fit, before any synthesis), the
block-RAM estimate, report parsing and the fit check on report data; the real flow on the
smallest configuration (slow: yosys + nextpnr) maps every SRAM bank to block RAM."""

from __future__ import annotations

import json

import pytest

from encore.cli import main
from encore.errors import BAD_INPUT
from hw.fpga import report
from hw.fpga.bram import COLLISION_X
from hw.fpga.targets import TARGETS, bram_estimate, get_target, memories
from isa import MachineConfig


def test_unknown_target_is_a_clear_error(capsys):
    assert main(["fpga", "--target", "ecp5-12k"]) == BAD_INPUT
    err = capsys.readouterr().err
    assert "unknown FPGA target 'ecp5-12k'; known targets: ecp5-25k, ecp5-45k, ecp5-85k" in err


def test_does_not_fit_before_synthesis(capsys, tmp_path):
    # 64 KiB + 64 KiB at DIM 8 needs far more EBR than the 25k's 56; fails in well under a second.
    rc = main(["fpga", "--dim", "8", "--sp-kib", "64", "--acc-kib", "64", "--target",
               "ecp5-25k", "--out", str(tmp_path)])
    assert rc == BAD_INPUT
    err = capsys.readouterr().err
    cfg = MachineConfig(dim=8, sp_kib=64, acc_kib=64)
    need = sum(bram_estimate(cfg, get_target("ecp5-25k")).values())
    assert "does not fit ecp5-25k" in err
    assert f"block RAM {need} > 56 DP16KD (EBR) ({need - 56} over" in err
    assert not (tmp_path / "top.v").exists()  # nothing was built


def test_bram_estimate_counts_banks_of_the_best_shape():
    cfg = MachineConfig(dim=8, sp_kib=32, acc_kib=32)
    mem = memories(cfg)
    # XOR multi-port: each writer's bank once per reader and once per other writer
    assert mem["sp"] == (4096, 64, 2 * (3 + 1)) and mem["acc"] == (1024, 256, 2 * (2 + 1))
    # SP: 4096 x 64 per bank = 8 x 2 DP16KD as 512 x 36; ACC: 1024 x 256 = 15 as 1024 x 18.
    assert bram_estimate(cfg, TARGETS["ecp5-85k"]) == {"sp": 8 * 16, "acc": 6 * 15}


def test_fit_check_names_every_resource_over():
    target = TARGETS["ecp5-25k"]
    cells = {"LUT4": 30000, "CCU2C": 100, "TRELLIS_FF": 1000, "MULT18X18D": 40, "DP16KD": 10}
    used = report.synth_resources(cells, target)
    assert used["lut"] == 30200 and used["dsp"] == 40
    with pytest.raises(report.DoesNotFit) as e:
        report.check_fit(used, target, "after synthesis")
    msg = str(e.value)
    assert "LUT 30200 > 24288 LUT4 (5912 over, 124%)" in msg
    assert "DSP 40 > 28 MULT18X18D (12 over, 143%)" in msg
    assert "FF" not in msg.split(":", 1)[1].replace("FF mapping", "")
    report.check_fit(report.synth_resources({"LUT4": 10}, target), target, "x")  # fits


def test_xilinx_counts_luts_brams_in_ramb36():
    cells = {"LUT3": 5, "LUT6": 7, "RAM32M": 2, "FDRE": 9, "RAMB18E1": 3, "RAMB36E1": 1,
             "DSP48E1": 4}
    used = report.synth_resources(cells, TARGETS["xilinx-xc7"])
    assert used == {"lut": 20, "ff": 9, "dsp": 4, "bram": 2.5, "lutram": 8, "io": 0}


def test_nextpnr_report_parsing():
    pnr = {"utilization": {"TRELLIS_COMB": {"used": 120, "available": 1000},
                           "DP16KD": {"used": 4, "available": 208}},
           "fmax": {"$glbnet$clk": {"achieved": 123.456, "constraint": 100.0}},
           "critical_paths": [{"from": "posedge $glbnet$clk", "to": "posedge $glbnet$clk",
                               "path": [{"type": "clk-to-q", "delay": 0.5,
                                         "from": {"cell": "a", "port": "CLK"},
                                         "to": {"cell": "a", "port": "Q"}},
                                        {"type": "logic", "delay": 1.25,
                                         "from": {"cell": "a", "port": "Q"},
                                         "to": {"cell": "b", "port": "DI"}}]}]}
    assert report.pnr_resources(pnr) == {"lut": 120, "bram": 4}
    assert report.fmax(pnr) == {"$glbnet$clk": {"achieved_mhz": 123.46, "requested_mhz": 100.0}}
    assert report.critical_paths(pnr) == [{
        "from_clock": "posedge $glbnet$clk", "to_clock": "posedge $glbnet$clk",
        "start": "a.CLK", "end": "b.DI", "delay_ns": 1.75, "logic_levels": 1}]


@pytest.mark.slow
def test_smallest_configuration_maps_srams_to_block_ram(tmp_path):
    # ECP5-85k: DIM 4 with every engine needs 107 MULT18X18D, more than the 45k's 72. Placed
    # only (about 10 minutes of CPU): the whole design's routing has not converged yet
    # (docs/rtl.md "FPGA").
    out = tmp_path / "fpga.json"
    assert main(["fpga", "--dim", "4", "--sp-kib", "1", "--acc-kib", "2", "--dram-bytes", "4",
                 "--target", "ecp5-85k", "--place-only", "--out", str(tmp_path),
                 "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    banks = {name: mapped for name, mapped in r["memories"].items()
             if ".sp_" in name or ".acc_" in name}
    assert len(banks) == 8 + 6
    assert not [n for n, v in banks.items() if v == "FF"]
    # the SRAM banks as estimated, plus the engines' own buffers (ATTN, LAYERNORM)
    assert r["synth_resources"]["bram"] > sum(r["bram_estimate"].values())
    # every block RAM's read stage is its output register (hw/fpga/bram.py)
    assert r["bram_output_registers"]["skipped"] == {}
    assert r["bram_output_registers"]["brams"] == r["synth_resources"]["bram"]
    assert r["fmax_mhz"] is None and r["placed_fmax_mhz"] > 0  # an estimate, not a clock
    assert not (tmp_path / "encore.bit").exists()


def test_yosys_stat_counts_luts_as_nextpnr_does():
    # yosys stat -json of `encore fpga --dim 4 --target ecp5-85k`; nextpnr-ecp5 reported
    # "Total LUT4s: 18410/83640" for that netlist before packing.
    stat = {"design": {"num_cells_by_type": {
        "$scopeinfo": 37, "CCU2C": 1671, "DP16KD": 28, "L6MUX21": 137, "LUT4": 14222,
        "MULT18X18D": 36, "PFUMX": 1636, "TRELLIS_DPR16X4": 141, "TRELLIS_FF": 6768}}}
    used = report.synth_resources(report.cell_counts(stat), TARGETS["ecp5-85k"])
    assert used == {"lut": 18410, "ff": 6768, "dsp": 36, "bram": 28, "lutram": 141, "io": 0}
    # that netlist had 6 + 4 banks and a live-value table of flip-flops; now 8 + 6 banks
    est = bram_estimate(MachineConfig(dim=4, sp_kib=4, acc_kib=4), TARGETS["ecp5-85k"])
    assert (est["sp"], est["acc"]) == (8 * 2, 6 * 4) and 6 * 2 + 4 * 4 == 28


def test_memory_mapping_from_the_yosys_log():
    log = """2.28. Executing MEMORY_LIBMAP pass (mapping memories to cells).
mapping memory encore_fpga.core.acc.acc_compute_to_compute via $__PDPW16KD_
mapping memory encore_fpga.core.sp.sp_compute_to_compute_a via $__DP16KD_
using FF mapping for memory encore_fpga.core.acc.acc_lvt
"""
    assert report.memory_mapping(log) == {
        "encore_fpga.core.acc.acc_compute_to_compute": "$__PDPW16KD_",
        "encore_fpga.core.sp.sp_compute_to_compute_a": "$__DP16KD_",
        "encore_fpga.core.acc.acc_lvt": "FF"}


def test_xilinx_script_splits_nets_before_abc9():
    # YosysHQ/yosys#4349: abc9's re-integration asserts on DIM 16 without splitnets
    from hw.fpga.flow import yosys_script

    lines = yosys_script(TARGETS["xilinx-xcup"]).splitlines()
    assert lines[:4] == ["read_verilog top.v", "hierarchy -top encore_fpga", "proc", "splitnets"]
    x = "synth_xilinx -family xcup -top encore_fpga -flatten"
    assert lines[4:7] == [f"{x} -run :map_luts", "splitnets", f"{x} -run map_luts:"]
    hier = yosys_script(TARGETS["xilinx-xcup"], flatten=False)
    assert "-flatten" not in hier and "synth_xilinx -family xcup -top encore_fpga -run" in hier
    assert lines[-1] == "tee -q -o stat.json stat -json -top encore_fpga"
    abc = yosys_script(TARGETS["xilinx-xcup"], "abc").splitlines()
    assert "splitnets" not in abc and "abc -luts 2:2,3,6:5,10,20" in abc
    assert not [x for x in abc if x.startswith("abc9")]
    assert abc[-2] == "synth_xilinx -family xcup -top encore_fpga -flatten -run finalize:"
    with pytest.raises(ValueError, match="unknown LUT mapper 'abc8'"):
        yosys_script(TARGETS["xilinx-xcup"], "abc8")
    ecp5 = yosys_script(TARGETS["ecp5-85k"])
    # the ECP5 memories' collision mask between synth_ecp5's coarse and map_ram steps
    assert "splitnets" not in ecp5 and ecp5.splitlines()[1:4] == [
        "synth_ecp5 -top encore_fpga -run :map_ram", COLLISION_X,
        "synth_ecp5 -top encore_fpga -run map_ram: -json synth.json"]


def test_zero_memory_init_dropped_nonzero_kept():
    # write_verilog's per-word initial blocks, as Amaranth's Verilog has them (hw/fpga/flow.py)
    from amaranth.back import verilog
    from amaranth.hdl import Module
    from amaranth.lib import memory, wiring
    from amaranth.lib.wiring import In, Out

    from hw.fpga.flow import drop_zero_memory_init

    class Two(wiring.Component):
        def __init__(self):
            super().__init__({"addr": In(4), "z": Out(8), "t": Out(8)})

        def elaborate(self, platform):
            m = Module()
            m.submodules.zero = zero = memory.Memory(shape=8, depth=16, init=[])
            m.submodules.table = table = memory.Memory(shape=8, depth=16, init=[0, 3, 0, 7])
            w, rz, rt = zero.write_port(), zero.read_port(), table.read_port()
            m.d.comb += [w.addr.eq(self.addr), w.data.eq(self.addr), w.en.eq(1),
                         rz.addr.eq(self.addr), rt.addr.eq(self.addr),
                         self.z.eq(rz.data), self.t.eq(rt.data)]
            return m

    text = verilog.convert(Two(), name="two", emit_src=False)
    assert text.count("initial begin") == 2
    out, removed = drop_zero_memory_init(text)
    assert removed == 16 and out.count("initial begin") == 1
    assert "8'h07;" in out and "8'h03;" in out  # the table's contents stay
    assert drop_zero_memory_init(out) == (out, 0)


def test_unknown_router_is_a_clear_error(tmp_path, capsys):
    from hw.fpga.flow import run_flow

    with pytest.raises(ValueError, match="unknown router 'router3'; one of: router1, router2"):
        run_flow(MachineConfig(), get_target("ecp5-85k"), tmp_path, router="router3")
    assert not any(tmp_path.iterdir())  # nothing was built
    with pytest.raises(SystemExit):
        main(["fpga", "--target", "ecp5-85k", "--router", "router3"])
    assert "invalid choice: 'router3'" in capsys.readouterr().err


def test_place_only_is_an_option_of_the_ecp5_flow(tmp_path, capsys):
    rc = main(["fpga", "--target", "xilinx-xcup", "--place-only", "--out", str(tmp_path)])
    assert rc == BAD_INPUT
    assert ("--place-only is an option of the ECP5 flow (synth_ecp5 + nextpnr), not of "
            "xilinx-xcup") in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_placed_estimate_from_the_log_and_in_the_report():
    log = ("Info: Max frequency for clock '$glbnet$clk': 36.29 MHz (FAIL at 100.00 MHz)\n")
    est = report.placed_fmax(log, 100.0)
    assert est == {"$glbnet$clk": {"achieved_mhz": 36.29, "requested_mhz": 100.0,
                                   "placed": True}}
    r = {"config": {"dim": 4, "sp_kib": 4, "acc_kib": 4, "dram_bytes": 16},
         "target": {"name": "ecp5-85k", "device": "LFE5U-85F", "place_and_route": True},
         "resources": [], "resources_from": "nextpnr placement", "fmax": est,
         "wall_s": {}}
    assert ("Fmax $glbnet$clk: 36.29 MHz (requested 100 MHz: FAILS, nextpnr's post-placement "
            "estimate: no routing ran)") in report.format_report(r)


def test_a_placed_only_report_gives_no_clock(tmp_path):
    from encore.clock import clock_from_fpga_report

    path = tmp_path / "r.json"
    path.write_text(json.dumps({"config": {"dim": 4}, "fmax_mhz": None, "placed_fmax_mhz": 36.3,
                                "target": {"name": "ecp5-85k", "place_and_route": True}}))
    with pytest.raises(ValueError, match=r"ecp5-85k has no measured Fmax \(placed only "
                       r"\(--place-only\): its Fmax is nextpnr's post-placement estimate\)"):
        clock_from_fpga_report(path, None)
