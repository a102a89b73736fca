"""``encore bench``: argument checks and a whole sweep on small stand-in programs."""

from __future__ import annotations

import csv
import json

import pytest

from compiler.testprogs import linear_program
from encore.cli import main
from encore.commands import bench
from isa import MachineConfig


@pytest.fixture
def small_programs(monkeypatch):
    """Stand-in for the compiler: a linear layer whose size grows with seq (fast)."""
    compiled = []

    def fake_compile(self, model, seq, config):
        compiled.append((model, seq, config.dim))
        prog, _, _ = linear_program(MachineConfig(dim=config.dim), seq, 64, 48)
        prog.meta["layer_spans"] = [{"name": "lin", "start": 0, "end": len(prog.instructions)}]
        return prog

    monkeypatch.setattr(bench.ProgramSource, "compile", fake_compile)
    return compiled


def test_sweep_writes_csv_json_and_plots_and_caches_programs(tmp_path, small_programs, capsys):
    args = ["bench", "--models", "bert-base,minilm-l6", "--seq", "32,64", "--dims", "8,16",
            "--bandwidths", "8,32", "--no-torch", "--workers", "0", "--out", str(tmp_path)]
    assert main(args) == 0
    with (tmp_path / "estimates.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * 2 * 2 * 2
    assert len(small_programs) == 2 * 2 * 2  # one compile per (model, seq, dim), not per bandwidth
    for r in rows:
        assert int(r["cycles"]) >= int(r["ideal_cycles"]) > 0
        # the roofline bound of every point: at most the estimate, the larger of its two sides
        assert int(r["cycles"]) >= int(r["bound_cycles"]) >= int(r["ideal_cycles"])
        assert float(r["bound_ratio"]) == pytest.approx(int(r["cycles"]) / int(r["bound_cycles"]))
        assert float(r["bound_ratio"]) >= 1.0 and r["bound"] in ("compute", "memory")
        assert float(r["bound_ms"]) == pytest.approx(int(r["bound_cycles"]) / 200e3)
    # the stand-in reads 64 x 48 weights + seq x 64 inputs: memory-bound at 8 B/cycle, DIM 16
    assert {r["bound"] for r in rows if (r["dim"], r["dram_bytes_per_cycle"]) == ("16", "8")} \
        == {"memory"}
    by_bw = {}
    for r in rows:
        by_bw.setdefault((r["model"], r["seq"], r["dim"]), {})[r["dram_bytes_per_cycle"]] = \
            int(r["cycles"])
    assert all(v["32"] <= v["8"] for v in by_bw.values())
    data = json.loads((tmp_path / "bench.json").read_text())
    assert {la["name"] for la in data["layers"]} == {"lin"}
    assert {"bound_cycles", "bound_ms", "bound", "bound_ratio"} <= set(data["estimates"][0])
    for png in ("latency_vs_dim.png", "bound_ratio.png", "roofline.png", "breakdown.png"):
        assert (tmp_path / png).stat().st_size > 1000
    out = capsys.readouterr().out
    assert "ideal ms" in out and "bound ms" in out and "est/bnd" in out and "bert-base" in out
    # second run re-times the cached programs without compiling
    assert main(args + ["--no-plots"]) == 0
    assert len(small_programs) == 8


@pytest.mark.parametrize("argv,message", [
    (["--models", "gpt2"], "model 'gpt2' is not known: expected some of"),
    (["--dims", "12"], "array size 12 is not supported: expected some of 4, 8, 16"),
    (["--bandwidths", "0"], "DRAM bandwidth 0 is out of range"),
    (["--seq", "abc"], "sequence length 'abc' is not an integer"),
])
def test_bad_axes_are_rejected_with_a_clear_message(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(["bench", *argv])
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_clock_is_a_user_error(tmp_path, capsys):
    assert main(["bench", "--clock-mhz", "0", "--out", str(tmp_path), "--no-torch",
                 "--workers", "0"]) == 3
    assert "--clock-mhz 0 is invalid: expected a number > 0 (MHz)" in capsys.readouterr().err


def test_configurations_the_compiler_rejects_are_skipped_and_listed(tmp_path, monkeypatch, capsys):
    def fake_compile(self, model, seq, config):
        if config.dim == 16:
            raise ValueError(f"a layer does not fit the scratchpad at dim={config.dim}")
        return linear_program(MachineConfig(dim=config.dim), seq, 32, 32)[0]

    monkeypatch.setattr(bench.ProgramSource, "compile", fake_compile)
    args = ["bench", "--models", "bert-base", "--seq", "32", "--dims", "8,16", "--bandwidths",
            "16", "--no-torch", "--no-plots", "--workers", "0", "--out", str(tmp_path)]
    assert main(args) == 0
    failed = json.loads((tmp_path / "failed.json").read_text())
    assert failed == [{"model": "bert-base", "seq": 32, "dim": 16,
                       "error": "a layer does not fit the scratchpad at dim=16"}]
    assert "skipped bert-base seq 32 DIM 16: a layer does not fit" in capsys.readouterr().out
    # nothing compiles at all: a clear error, exit status 3 (bad input)
    assert main(args[:6] + ["16"] + args[7:]) == 3
    assert "no configuration compiled: bert-base seq 32 DIM 16" in capsys.readouterr().err


def test_reuse_stale_takes_a_program_cached_by_an_older_compiler(tmp_path, small_programs):
    base = ["bench", "--models", "bert-base", "--seq", "32", "--dims", "8", "--bandwidths", "16",
            "--no-torch", "--no-plots", "--workers", "0", "--out", str(tmp_path)]
    assert main(base) == 0 and len(small_programs) == 1
    (cached,) = (tmp_path / "programs").glob("*.encore")
    cached.rename(cached.with_name("bert-base-s32-d8-sp512-acc256-000000000000.encore"))
    assert main(base + ["--reuse-stale"]) == 0 and len(small_programs) == 1
    assert main(base) == 0 and len(small_programs) == 2  # without it: recompiled
