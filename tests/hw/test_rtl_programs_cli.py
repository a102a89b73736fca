"""``encore rtl``'s report without a simulator build: the RTL run is replaced by the functional
simulator's DRAM (optionally altered) and the timing model's cycles, so the JSON fields, the
mismatch messages and the exit statuses are checked in milliseconds. The real runs are in
test_rtl_models.py and test_commands.py."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

import sim.timing
from compiler.testprogs import linear_program
from encore.cli import main
from encore.commands.rtl_report import Progress, first_difference
from hw.rtlsim import runner
from isa import ErrorCode
from sim.functional import FunctionalSim

from .rtl_cases import small_config


def _fake_rtl(monkeypatch, alter=None, cycles_delta=0, error=ErrorCode.NONE, error_index=0):
    """Replace run_jobs by the functional simulator; ``alter(prog, dram)`` edits its DRAM."""

    def run_jobs(cfg, jobs, **kw):
        out = []
        for job in jobs:
            fs = FunctionalSim(job.program)
            fs.dram[:] = job.dram
            fs.run()
            dram = fs.dram.copy()
            if alter is not None:
                alter(job.program, dram)
            cycles = sim.timing.estimate(job.program).cycles + cycles_delta
            out.append(runner.RtlResult(dram=dram, regs={
                "timed_out": False, "wall_seconds": 0.5, "error": int(error),
                "error_index": error_index, "cycles": cycles,
                "retired": len(job.program.instructions),
                "load_busy": 1, "compute_busy": 2, "store_busy": 3}))
        return out

    monkeypatch.setattr(runner, "run_jobs", run_jobs)
    monkeypatch.setattr(runner, "simulator_available", lambda sim: None)


@pytest.fixture
def program(tmp_path):
    prog, inputs, _ = linear_program(small_config(4), 6, 10, 5, bias=True, seed=11)
    path = tmp_path / "p.encore"
    prog.save(path)
    np.savez(tmp_path / "in.npz", **inputs)
    return prog, str(path), ["--inputs", str(tmp_path / "in.npz"), "--no-progress"]


def _run(tmp_path, path, extra):
    rc = main(["rtl", path, *extra, "--json", str(tmp_path / "r.json")])
    return rc, json.loads((tmp_path / "r.json").read_text())


def test_json_of_an_agreeing_run(monkeypatch, tmp_path, capsys, program):
    prog, path, extra = program
    _fake_rtl(monkeypatch)
    rc, rep = _run(tmp_path, path, extra)
    out = capsys.readouterr().out
    assert rc == 0, out
    model = sim.timing.estimate(prog).cycles
    assert rep["dram_equal"] is True and rep["first_difference"] is None
    assert rep["error"] is None and rep["error_index"] is None
    assert rep["cycles"] == rep["model_cycles"] == model and rep["cycles_equal"] is True
    assert rep["run_s"] == 0.5 and rep["accuracy"] is None  # not a model program
    assert rep["dram_latency"] == [prog.config.dram_latency] * 2 and rep["fixed_latency"]
    assert f"timing model: {model:,} cycles (equal)" in out


def test_mismatch_names_the_first_differing_tensor_and_element(monkeypatch, tmp_path, capsys,
                                                               program):
    prog, path, extra = program

    def alter(p, dram):
        y = p.read_tensor(dram, "y")
        y[2, 3] += 1
        p.write_tensor(dram, "y", y)

    _fake_rtl(monkeypatch, alter=alter)
    rc, rep = _run(tmp_path, path, extra)
    err = capsys.readouterr().err
    assert rc == 6  # RTL_MISMATCH
    diff = rep["first_difference"]
    assert rep["dram_equal"] is False
    assert (diff["tensor"], diff["row"], diff["col"]) == ("y", 2, 3)
    assert diff["rtl"] == diff["functional"] + 1
    assert (f"the first difference is tensor y element [2, 3]: RTL {diff['rtl']}, functional "
            f"simulator {diff['functional']}") in err


def test_cycle_difference_exits_non_zero(monkeypatch, tmp_path, capsys, program):
    prog, path, extra = program
    _fake_rtl(monkeypatch, cycles_delta=3)
    rc, rep = _run(tmp_path, path, extra)
    model = sim.timing.estimate(prog).cycles
    assert rc == 6 and rep["cycles_equal"] is False and rep["dram_equal"] is True
    assert (f"the RTL took {model + 3:,} cycles, the timing model {model:,} at the same fixed "
            "DRAM latency (difference +3)") in capsys.readouterr().err


def test_cycles_are_not_compared_at_a_random_latency(monkeypatch, tmp_path, capsys, program):
    _, path, extra = program
    _fake_rtl(monkeypatch, cycles_delta=40)
    rc, rep = _run(tmp_path, path, [*extra, "--latency", "4", "40"])
    assert rc == 0 and rep["cycles_equal"] is None and rep["dram_latency"] == [4, 40]
    assert "not comparable at a random DRAM latency" in capsys.readouterr().out


def test_an_error_only_the_rtl_reports(monkeypatch, tmp_path, capsys, program):
    _, path, extra = program
    _fake_rtl(monkeypatch, error=ErrorCode.BAD_FIELD, error_index=4)
    rc, rep = _run(tmp_path, path, extra)
    assert rc == 6 and rep["error"] == "BAD_FIELD" and rep["error_index"] == 4
    assert rep["functional_error"] is None
    assert ("the RTL stopped with BAD_FIELD at instruction 4; the functional simulator ran "
            "without error") in capsys.readouterr().err


def test_difference_outside_every_tensor(program):
    prog = program[0]
    used = max(t.addr + t.nbytes(prog.config.dim) for t in prog.tensors.values())
    a = np.zeros(used + 16, dtype=np.uint8)  # e.g. the scratch space past the last tensor
    b = a.copy()
    b[-1] ^= 1
    diff = first_difference(prog, b, a)
    assert diff["tensor"] is None and diff["byte"] == a.size - 1 and diff["bytes_differing"] == 1


def test_progress_line(tmp_path, capsys):
    path = tmp_path / "progress.json"
    with Progress(path, total=500, every_s=0.05) as p:
        path.write_text(json.dumps({"retired": 120, "cycles": 30000, "wall_s": 2.0}))
        deadline = time.time() + 5
        while p.lines == 0 and time.time() < deadline:
            time.sleep(0.02)
    assert ("RTL: 120 of 500 instructions retired, 30,000 cycles, 15,000 cycles/s"
            in capsys.readouterr().err)
