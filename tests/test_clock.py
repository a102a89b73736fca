"""Where a latency estimate's clock comes from (encore/clock.py): --clock-mhz, the routed Fmax of
an `encore fpga --json` report, or the assumed default, and the errors for bad ones."""

import json

import pytest

from encore import errors
from encore.cli import main
from encore.clock import DEFAULT_CLOCK_MHZ
from isa import Program
from tests.fuzzing import model_program_bytes


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    path = tmp_path_factory.mktemp("clock") / "p.encore"
    path.write_bytes(model_program_bytes())
    return path


def fpga_report(path, cfg, **changes):
    """A report with the fields `encore fpga --json` writes (hw/fpga/flow.py run_flow)."""
    r = {"config": {"dim": cfg.dim, "sp_kib": cfg.sp_kib, "acc_kib": cfg.acc_kib,
                    "dram_bytes": cfg.dram_bytes_per_cycle},
         "target": {"name": "ecp5-85k", "family": "ecp5", "device": "LFE5U-85F",
                    "place_and_route": True},
         "requested_mhz": 100.0, "fmax": {"clk": {"achieved_mhz": 87.25,
                                                  "requested_mhz": 100.0}},
         "fmax_mhz": 87.25}
    for k, v in changes.items():
        if isinstance(v, dict) and isinstance(r.get(k), dict):
            r[k] = {**r[k], **v}
        elif v is None:
            r.pop(k, None)
        else:
            r[k] = v
    path.write_text(json.dumps(r))
    return path


def _simulate(argv, tmp_path, capsys):
    js = tmp_path / "s.json"
    assert main(["simulate", *argv, "--json", str(js)]) == 0
    return json.loads(js.read_text())["timing"], capsys.readouterr().out


def test_default_clock_is_assumed_and_says_so(program, tmp_path, capsys):
    t, out = _simulate([str(program)], tmp_path, capsys)
    assert t["clock_mhz"] == DEFAULT_CLOCK_MHZ
    assert t["clock_source"].startswith("assumed") and "not a measured Fmax" in t["clock_source"]
    assert f"clock {DEFAULT_CLOCK_MHZ:g} MHz: assumed" in out


def test_fpga_report_sets_the_clock_to_its_routed_fmax(program, tmp_path, capsys):
    cfg = Program.load(program).config
    rep = fpga_report(tmp_path / "r.json", cfg)
    t, out = _simulate([str(program), "--fpga-report", str(rep)], tmp_path, capsys)
    base, _ = _simulate([str(program), "--clock-mhz", "100"], tmp_path, capsys)
    assert t["clock_mhz"] == 87.25 and t["cycles"] == base["cycles"]
    # The same cycles at the report's clock: latency scales by 100 / 87.25 exactly.
    assert t["latency_ms"] == pytest.approx(base["latency_ms"] * 100 / 87.25, rel=1e-12)
    assert "measured: the routed Fmax of ecp5-85k (LFE5U-85F)" in t["clock_source"]
    assert "clock 87.25 MHz: measured" in out
    assert base["clock_source"] == "given with --clock-mhz"


def _one_error(argv, capsys):
    assert main(argv) == errors.BAD_INPUT
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.parametrize("case, message", [
    ("both", "--clock-mhz and --fpga-report both give the clock: use one of them"),
    ("zero", "--clock-mhz 0 is invalid: expected a number > 0 (MHz)"),
    ("missing", "no such file (write one with `encore fpga ... --json PATH`)"),
    ("not-json", "not a JSON report of `encore fpga`"),
    ("not-report", "not a report of `encore fpga --json` (expected its 'config' and 'target')"),
    ("xilinx", "xilinx-zynquplus has no measured Fmax (synthesis estimate only: no place and "
               "route ran); give the clock with --clock-mhz"),
    ("other-machine", "is for another machine: DIM 8 (report) != 4 (this run); SP KiB 64 "
                      "(report) != 16 (this run)"),
])
def test_bad_clock_sources_are_one_line_errors(case, message, program, tmp_path, capsys):
    cfg = Program.load(program).config
    assert (cfg.dim, cfg.sp_kib) == (4, 16)  # what the other-machine message names
    rep = tmp_path / "r.json"
    argv = ["simulate", str(program)]
    if case == "both":
        argv += ["--clock-mhz", "100", "--fpga-report", str(fpga_report(rep, cfg))]
    elif case == "zero":
        argv += ["--clock-mhz", "0"]
    elif case == "missing":
        argv += ["--fpga-report", str(tmp_path / "none.json")]
    elif case == "not-json":
        rep.write_text("Fmax 87 MHz")
        argv += ["--fpga-report", str(rep)]
    elif case == "not-report":
        rep.write_text("[1, 2]")
        argv += ["--fpga-report", str(rep)]
    elif case == "xilinx":
        argv += ["--fpga-report", str(fpga_report(
            rep, cfg, target={"name": "xilinx-zynquplus", "place_and_route": False},
            fmax=None, fmax_mhz=None))]
    else:
        argv += ["--fpga-report", str(fpga_report(rep, cfg, config={"dim": 8, "sp_kib": 64}))]
    assert message in _one_error(argv, capsys)
