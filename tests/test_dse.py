"""``encore dse``: the --space syntax, the area model, budgets, resuming, and serial timing."""

from __future__ import annotations

import csv
import json

import pytest

from encore.cli import main
from encore.dse import area, space, workload
from encore.dse.engine import Engine
from encore.dse.explore import explore
from encore.errors import BAD_INPUT
from tests.helpers import save_bert

SPACE = "dim=4,8 sp-kib=16,64 dram-bw=8,32 clock-mhz=100"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return str(save_bert(tmp_path_factory.mktemp("dse") / "tiny", hidden=32, heads=2, ffn=64,
                         layers=1, max_pos=64))


@pytest.mark.parametrize("spec,message", [
    ("dims=8,16", "--space: unknown parameter 'dims': expected one of dim, sp-kib, acc-kib, "
                  "dram-bw, max-seq, queue-depth, clock-mhz"),
    ("", "--space is empty: give at least one NAME=V1,V2,..."),
    ("dim=", "--space dim=: no values given"),
    ("dim=12", "--space dim=12 is not supported: expected some of 4, 8, 16, 32, 64, 128"),
    ("dram-bw=33..63", "--space dram-bw=33..63: the range holds no allowed value"),
    ("dram-bw=x", "--space dram-bw: value 'x' is not an integer"),
    ("sp-kib=0", "--space sp-kib=0 is out of range: expected 1..1048576"),
    ("dim=8 dim=16", "--space: parameter 'dim' is given twice"),
    ("dim", "--space item 'dim' is not NAME=V1,V2,... or NAME=LO..HI"),
])
def test_bad_space_is_a_clear_error(spec, message, tmp_path, capsys):
    rc = main(["dse", "--model", "bert-base", "--space", spec, "--out", str(tmp_path)])
    assert rc == BAD_INPUT
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("extra,message", [
    (["--budget", "lut=10"], "impossible budget: no configuration of the space fits it on "
                             "ecp5-85k (the smallest, dim="),
    (["--budget", "luts=10"], "--budget 'luts=10' is not RESOURCE=N with RESOURCE one of"),
    (["--budget", "dsp=-1"], "--budget 'dsp=-1': expected a number > 0"),
    (["--target", "ice40"], "--target 'ice40' is not known: expected one of ecp5-25k"),
    (["--workers", "-1", "--target", "xilinx-xcup"], "--workers -1 is invalid: expected >= 0"),
])
def test_bad_budget_target_and_engine_are_clear_errors(extra, message, tmp_path, capsys):
    argv = ["dse", "--model", "bert-base", "--space", SPACE, "--out", str(tmp_path), *extra]
    assert main(argv) == BAD_INPUT
    assert message in capsys.readouterr().err
    assert not (tmp_path / "results.jsonl").exists()  # rejected before any work


def test_default_clock_above_the_ecp5_fmax_is_reported_as_the_reason(tmp_path, capsys):
    roomy = [f"--budget={k}=1e7" for k in ("lut", "ff", "dsp", "bram")]
    rc = main(["dse", "--model", "bert-base", "--space", "dim=8", "--out", str(tmp_path), *roomy])
    assert rc == BAD_INPUT
    assert "clock 200 MHz > fmax 100 MHz" in capsys.readouterr().err


def test_nothing_fitting_the_part_is_listed_not_an_error(tiny, tmp_path, capsys):
    assert main(["dse", "--model", tiny, "--seq", "16", "--space", "dim=8 sp-kib=64",
                 "--workers", "0", "--no-progress", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "over budget: lut " in out and "; dsp " in out and "clock 200 MHz > fmax 100 MHz" in out
    assert "no point fits the budget and compiles: see the reasons above; the smallest, " \
        "dim=8 sp-kib=64 " in out


def test_ranges_expand_to_allowed_values_and_large_spaces_are_searched():
    axes = space.parse_space("dim=8..32 dram-bw=8..64 clock-mhz=90..150 sp-kib=512,128")
    assert axes == {"dim": [8, 16, 32], "dram-bw": [8, 16, 32, 64],
                    "clock-mhz": [100.0, 125.0, 150.0], "sp-kib": [128, 512]}
    grid, method = space.points(axes, 72)
    assert method == "grid" and len({space.point_id(p) for p in grid}) == 72
    picked, method = space.points(axes, 20, seed=3)
    ids = {space.point_id(p) for p in picked}
    assert method == "random" and len(ids) == 20 and ids <= {space.point_id(p) for p in grid}
    assert picked == space.points(axes, 20, seed=3)[0]  # seeded
    assert all(p["acc-kib"] == 256 and p["queue-depth"] == 16 for p in picked)  # defaults


def test_an_axi_width_the_rtl_cannot_build_is_a_reason():
    model = area.AreaModel("xilinx-xcup")
    pt = {**space.defaults(), "dim": 8, "sp-kib": 64, "acc-kib": 64, "dram-bw": 24,
          "clock-mhz": 100.0}
    why = model.budget_violations(pt, model.resources(pt), {})
    assert why == ["RTL cannot build it: dram_bytes_per_cycle=24: the RTL's AXI data width must "
                   "be a power of two between 4 and 128 bytes"]


def test_lengths_file_and_buckets(tmp_path):
    f = tmp_path / "lengths.txt"
    f.write_text("# tokens per sentence\n3\n17 2\n111\n")
    assert workload.buckets(workload.read_lengths(str(f)), 16) == [(16, 1), (32, 2), (112, 1)]
    f.write_text("3\nten\n")
    with pytest.raises(ValueError, match=r"lengths.txt:2: 'ten' is not LENGTH \[COUNT\]"):
        workload.read_lengths(str(f))


def _serial_cycles(tiny, point, seq):
    """The timing model run directly on a freshly compiled program."""
    import sim.timing
    from compiler import compile_model

    cfg = space.machine(point)
    prog = compile_model(tiny, cfg, seq_len=seq, quant={"use_gptq": False}).program
    return sim.timing.estimate(prog, clock_mhz=point["clock-mhz"], config=cfg)


def test_serial_run_matches_the_timing_model_and_lists_failures(tiny, tmp_path, capsys):
    spec = "dim=8,64 sp-kib=1,64 max-seq=8,512 clock-mhz=100"
    assert main(["dse", "--model", tiny, "--seq", "16", "--space", spec, "--workers", "0",
                 "--target", "xilinx-xcup", "--no-progress", "--out", str(tmp_path)]) == 0
    with (tmp_path / "points.csv").open() as f:
        rows = {(int(r["dim"]), int(r["sp_kib"]), int(r["max_seq"])): r for r in csv.DictReader(f)}
    assert len(rows) == 8
    assert rows[(64, 1, 512)]["status"] == "invalid"
    assert "MachineConfig.sp_kib=1 gives only 16 rows at dim=64" in rows[(64, 1, 512)]["reason"]
    assert rows[(8, 1, 512)]["status"] == "failed"
    assert "need 256 scratchpad rows (have 128)" in rows[(8, 1, 512)]["reason"]
    assert rows[(8, 64, 8)]["status"] == "failed"
    assert "sequence length 16 exceeds the attention engine's max_seq=8" in \
        rows[(8, 64, 8)]["reason"]
    ok = [k for k, r in rows.items() if r["status"] == "ok"]
    assert ok and all(k[2] == 512 for k in ok)
    point = {**space.defaults(), "dim": 8, "sp-kib": 64, "clock-mhz": 100.0}
    rep = _serial_cycles(tiny, point, 16)
    assert int(rows[(8, 64, 512)]["cycles"]) == rep.cycles
    assert float(rows[(8, 64, 512)]["latency_ms"]) == pytest.approx(rep.latency_ms, rel=1e-12)
    assert int(rows[(8, 64, 512)]["dram_bytes"]) == rep.dram_read + rep.dram_written
    data = json.loads((tmp_path / "dse.json").read_text())
    assert data["best"]["point"] in data["pareto"]
    assert (tmp_path / "pareto.png").stat().st_size > 1000
    out = capsys.readouterr().out
    assert f"encore run --model {tiny} --seq 16 --dim" in out
    assert "encore fpga --target xilinx-xcup --dim 8 --sp-kib 64 --acc-kib 256 --dram-bytes 16 " \
        "--freq-mhz 100" in out


def test_an_interrupted_run_resumes_without_recomputing(tiny, tmp_path):
    axes = space.parse_space(SPACE)
    points, _ = space.points(axes, 100)
    model = area.AreaModel("xilinx-xcup")
    source = (str(tmp_path / "programs"), False, False)
    mix = [(16, 1)]

    def stop_after_three(job, total, workers):
        stop_after_three.n += job is not None
        if stop_after_three.n == 3:
            raise KeyboardInterrupt

    stop_after_three.n = 0
    with pytest.raises(KeyboardInterrupt):
        explore([tiny], mix, points, model, {}, Engine(workers=0), tmp_path, source,
                on_progress=stop_after_three)
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 3
    partial = explore([tiny], mix, points, model, {}, None, tmp_path, source)  # --report-only
    assert partial.computed == 0
    assert sorted(r["status"] for r in partial.points) == ["ok"] * 3 + ["pending"] * 5
    ex = explore([tiny], mix, points, model, {}, Engine(workers=0), tmp_path, source)
    assert (ex.reused, ex.computed) == (3, len(points) - 3)
    again = explore([tiny], mix, points, model, {}, Engine(workers=0), tmp_path, source)
    assert (again.reused, again.computed) == (len(points), 0)
    assert [r["cycles"] for r in again.points] == [r["cycles"] for r in ex.points]


def test_points_share_a_program_across_long_enough_max_seq(tiny):
    """explore compiles once for every max-seq >= seq: the instructions must not depend on it."""
    from compiler import compile_model
    from isa import MachineConfig

    a, b = (compile_model(tiny, MachineConfig(dim=8, sp_kib=64, max_seq=m), seq_len=16,
                          quant={"use_gptq": False}).program for m in (16, 4095))
    assert a.to_bytes() != b"" and a.instructions == b.instructions


def test_one_compile_per_program_not_per_point(tiny, tmp_path, monkeypatch):
    from encore.dse.programs import ProgramSource

    compiled = []
    real = ProgramSource.compile

    def counting(self, model, seq, config):
        compiled.append((seq, config.dim, config.sp_kib, config.max_seq))
        return real(self, model, seq, config)

    monkeypatch.setattr(ProgramSource, "compile", counting)
    points, _ = space.points(space.parse_space(
        "dim=8 sp-kib=64 dram-bw=8,16,32 queue-depth=4,16 clock-mhz=50,100 max-seq=16,512"), 100)
    ex = explore([tiny], [(16, 3), (32, 1)], points, area.AreaModel("xilinx-xcup"), {},
                 Engine(workers=0), tmp_path, (str(tmp_path / "programs"), False, False))
    assert len(points) == 24 and ex.computed == 24  # the two clocks share each timing
    # seq 16 compiles once for both max-seq; seq 32 once, plus once for max-seq 16 (rejected)
    assert sorted(compiled) == [(16, 8, 64, 512), (32, 8, 64, 16), (32, 8, 64, 512)]
    assert {r["status"] for r in ex.points if r["max_seq"] == 16} == {"failed"}
    row = next(r for r in ex.points if r["max_seq"] == 512)
    assert row["status"] == "ok" and row["area_source"] == "analytic"
    lines = [json.loads(x) for x in (tmp_path / "results.jsonl").read_text().splitlines()]
    stem = row["point"].rsplit(" clock-mhz=", 1)[0]  # timings are shared across clocks
    lat = {int(x["key"].split("|")[1]): x["record"]["cycles"] / (row["clock_mhz"] * 1e3)
           for x in lines if x["key"].endswith(stem)}
    assert row["latency_ms"] == pytest.approx((3 * lat[16] + lat[32]) / 4, rel=1e-12)


def test_a_tie_for_best_goes_to_the_narrower_slower_point(tmp_path):
    from encore.dse import report

    base = {"status": "ok", "latency_ms": 5.0, "area": 0.5, "dim": 8, "sp_kib": 64,
            "acc_kib": 64, "max_seq": 512, "queue_depth": 16, "cycles": 1, "utilization": 0.5,
            "dram_bytes": 1, "lut": 1, "ff": 1, "dsp": 1, "bram": 1, "fmax_mhz": 300.0,
            "area_source": "analytic", "reason": ""}
    rows = [{**base, "point": f"bw {bw} clk {clk}", "dram_bw": bw, "clock_mhz": clk}
            for bw, clk in ((64, 200.0), (32, 200.0), (32, 100.0))]
    meta = {"models": ["m"], "workload": "seq 16", "target": "xilinx-xcup"}
    best, _, _ = report.finish(tmp_path, rows, meta, "latency", None)
    assert best["point"] == "bw 32 clk 100.0"


def test_the_n_machine_prediction_charges_each_worker_its_model_load(tmp_path):
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "dse_scaling.py"
    spec = importlib.util.spec_from_file_location("dse_scaling", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    lines = [{"key": f"m|128|dim={d} sp-kib=64 acc-kib=64 dram-bw={bw}",
              "record": {"compile_s": 15.0 if first else 5.0, "load_s": 10.0 if first else 0.0,
                         "timing_s": 1.0}}
             for d, first in ((8, True), (16, False)) for bw in (16, 64)]
    path = tmp_path / "results.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines))
    compile_s, points, load_s = mod.costs(path)
    assert load_s == {"m": 10.0} and sorted(compile_s.values()) == [5.0, 5.0]
    assert mod.predicted(compile_s, points, 1, load_s) == 10 + 5 + 5 + 4 * 1
    assert mod.predicted(compile_s, points, 2, load_s) == 10 + 5 + 2 * 1  # both load the model
