"""The `encore` command line: reports, files, and one-line errors for user mistakes."""

import contextlib
import json
import re

import numpy as np
import pytest

from encore import errors
from encore.cli import main
from isa import INSTR_BYTES, ErrorCode, Instruction, Opcode, Program
from sim.errors import SimError
from tests import mutate
from tests.fuzzing import model_program_bytes
from tests.helpers import save_bert, save_gpt2_config


@pytest.fixture(scope="module")
def odd_model(tmp_path_factory):
    return save_bert(tmp_path_factory.mktemp("m") / "odd", hidden=48, heads=3, ffn=80, layers=1)


def test_run_writes_report_and_outputs(tmp_path, odd_model, capsys):
    js, npz = tmp_path / "r.json", tmp_path / "o.npz"
    assert main(["run", "--model", str(odd_model), "--seq", "19", "--batch", "2", "--dim", "8",
                 "--json", str(js), "--save-outputs", str(npz)]) == 0
    out = capsys.readouterr().out
    assert "Accuracy vs PyTorch FP32" in out and "Sentence embedding" in out
    r = json.loads(js.read_text())
    assert r["model"] == "odd" and r["seq_len"] == 19 and r["dim"] == 8
    assert r["program"]["instructions"] == sum(r["program"]["by_opcode"].values())
    assert len(r["accuracy"]["embedding_cosine"]) == 2
    assert {"name", "cosine", "max_abs_err"} <= set(r["accuracy"]["layers"][0])
    assert {"compile", "simulate", "pytorch"} <= set(r["wall_s"])
    data = np.load(npz)
    assert data["hidden_states"].shape == (2, 19, 48) and data["hidden_states"].dtype == np.float32
    assert data["input_ids"].shape == data["attention_mask"].shape == (2, 19)


def test_compile_then_simulate(tmp_path, odd_model, capsys):
    prog = tmp_path / "p.encore"
    assert main(["compile", "--model", str(odd_model), "--seq", "11", "--dim", "4",
                 "--sp-kib", "64", "-o", str(prog)]) == 0
    npz = tmp_path / "o.npz"
    assert main(["simulate", str(prog), "--save-outputs", str(npz)]) == 0
    out = capsys.readouterr().out
    assert "simulated" in out
    # The roofline line: no estimate beats its bound.
    ratio = re.search(r"roofline bound: [\d,]+ cycles = [\d.]+ ms \((compute|memory)-bound\), "
                      r"estimate / bound ([\d.]+)", out)
    assert ratio and float(ratio.group(2)) >= 1.0
    assert np.load(npz)["hidden_states"].shape == (1, 11, 48)


@pytest.mark.parametrize("argv, message", [
    (["run", "--model", "gpt-5"], "unknown model 'gpt-5'"),
    (["run", "--model", "minilm-l6", "--dim", "12"], "array size dim=12 cannot be addressed"),
    (["run", "--model", "minilm-l6", "--text", ""], "input text 0 is empty"),
    (["run", "--model", "minilm-l6", "--seq", "600", "--text", "hi"], "longer than the model"),
    ])
def test_user_errors_are_one_line(argv, message, capsys):
    assert main(argv) == errors.BAD_INPUT
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_gpt2_folder_is_rejected(tmp_path, capsys):
    assert main(["run", "--model", str(save_gpt2_config(tmp_path / "g"))]) == errors.BAD_INPUT
    assert "unsupported architecture 'gpt2'" in capsys.readouterr().err


def test_corrupt_program_file(tmp_path, capsys):
    bad = tmp_path / "bad.encore"
    bad.write_bytes(b"ENCOREPG" + b"\x00" * 5)
    assert main(["simulate", str(bad)]) == errors.BAD_PROGRAM_FILE
    assert "is not an Encore program file" in capsys.readouterr().err


def _one_error_line(capsys, command: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"encore {command}: error: "), err
    return lines[0]


def test_missing_program_file(capsys):
    assert main(["simulate", "/nonexistent.encore"]) == errors.BAD_PROGRAM_FILE
    assert "does not exist" in _one_error_line(capsys, "simulate")


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["simulate"])
    assert e.value.code == errors.USAGE
    assert "the following arguments are required: PROGRAM.encore" in capsys.readouterr().err


def _first(prog: Program, op: Opcode) -> int:
    return next(i for i, ins in enumerate(prog.instructions) if ins.op == op)


def test_program_error_is_one_line_with_code_index_and_instruction(tmp_path, capsys):
    data = model_program_bytes()
    prog = Program.from_bytes(data)
    i = _first(prog, Opcode.LOAD)
    sp = prog.config.sp_rows
    bad = Instruction(Opcode.LOAD, sram_addr=sp - 1, rows=2, cols=4, dram_addr=64, dram_stride=4,
                      push_next=1)
    path = tmp_path / "bad.encore"
    path.write_bytes(mutate.with_word(data, i, bad.encode()))
    assert main(["simulate", str(path)]) == errors.PROGRAM_ERROR
    assert _one_error_line(capsys, "simulate") == (
        f"encore simulate: error: SRAM_RANGE at instruction {i} (LOAD mem=SP sram_addr={sp - 1} "
        f"rows=2 cols=4 dram_addr=0x40 dram_stride=4 [push_next]): LOAD rows [{sp - 1}, {sp + 1}) "
        f"exceed the scratchpad ({sp} rows)")


def test_undecodable_word_is_a_program_error(tmp_path, capsys):
    data = model_program_bytes()
    path = tmp_path / "bad.encore"
    path.write_bytes(mutate.with_word(data, 7, 31))
    assert main(["simulate", str(path)]) == errors.PROGRAM_ERROR
    line = _one_error_line(capsys, "simulate")
    word = f"{31:#0{2 + 2 * INSTR_BYTES}x}"
    assert line.startswith(f"encore simulate: error: ILLEGAL_OPCODE at instruction 7 "
                           f"(word {word}): illegal opcode 31: expected one of 0 NOP, 1 LOAD")


@pytest.mark.parametrize("path, value, field", [
    (("config", "max_seq"), 1, "'meta.seq' is 5: more than config.max_seq=1"),
    (("config", "dim"), 12, "'config' is not a valid machine configuration: array size dim=12"),
    (("dram_size",), 1000, "dram_init_bytes"),
    (("meta", "batch"), 2, "'meta.lengths' is [5]: expected a list of batch=2"),
    (("meta", "seq"), None, "'meta.seq' is None: expected an integer"),
    (("meta", "vocab"), 7, "'meta.vocab' is 7: tensor host.word_emb has"),
    (("tensors", 0, "addr"), 1 << 31, "'tensors[0] ("),
])
def test_edited_headers_are_refused_naming_the_field(tmp_path, capsys, path, value, field):
    p = tmp_path / "bad.encore"
    p.write_bytes(mutate.with_header(model_program_bytes(), path, value))
    assert main(["simulate", str(p)]) == errors.BAD_PROGRAM_FILE
    assert field in _one_error_line(capsys, "simulate")


def test_a_bug_in_encore_shows_the_traceback_and_says_so(tmp_path, capsys, monkeypatch):
    from encore.commands import verilog

    def broken(args):
        raise RuntimeError("boom")

    monkeypatch.setattr(verilog, "run", broken)
    assert main(["verilog", "-o", str(tmp_path / "x.v")]) == errors.BUG
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: boom" in err
    assert err.strip().splitlines()[-1].startswith("encore verilog: this is a bug in Encore")


def _fake_rtl(monkeypatch, regs: dict, dram_change=None):
    """Make `encore rtl` see an RTL run with these registers (no simulator needed)."""
    import hw.rtlsim.runner as runner

    def run_jobs(cfg, jobs, sim="verilator", **kw):
        from sim import FunctionalSim

        sim = FunctionalSim(jobs[0].program, jobs[0].dram.copy())
        with contextlib.suppress(SimError):
            sim.run()
        dram = sim.dram
        if dram_change is not None:
            dram_change(dram)
        base = {"timed_out": False, "error": 0, "error_index": 0, "cycles": 100, "retired": 0,
                "load_busy": 0, "compute_busy": 0, "store_busy": 0}
        return [runner.RtlResult(dram=dram, regs={**base, **regs})]

    monkeypatch.setattr(runner, "run_jobs", run_jobs)
    monkeypatch.setattr(runner, "simulator_available", lambda sim: None)


@pytest.fixture
def linear_file(tmp_path):
    from compiler.testprogs import linear_program
    from isa import MachineConfig

    cfg = MachineConfig(dim=4, sp_kib=4, acc_kib=4, dram_latency=16)
    prog = linear_program(cfg, 2, 3, 2, seed=1)[0]
    path = tmp_path / "lin.encore"
    prog.save(path)
    return path, prog


def test_rtl_disagreeing_with_the_functional_simulator_exits_6(linear_file, monkeypatch, capsys):
    path, prog = linear_file
    out = prog.tensor("y")
    _fake_rtl(monkeypatch, {}, lambda dram: dram.__setitem__(out.addr, 1))
    assert main(["rtl", str(path)]) == errors.RTL_MISMATCH
    assert "DRAM differs from the functional simulator in 1 byte; the first difference is " \
        "tensor y element [0, 0]: RTL " in _one_error_line(capsys, "rtl")
    _fake_rtl(monkeypatch, {"timed_out": True})
    assert main(["rtl", str(path), "--max-cycles", "9"]) == errors.RTL_MISMATCH
    assert "did not finish within 9 cycles" in _one_error_line(capsys, "rtl")


def test_rtl_program_error_agreeing_with_the_functional_simulator_exits_5(
        linear_file, monkeypatch, capsys, tmp_path):
    path, prog = linear_file
    data = mutate.with_word(path.read_bytes(), 1, Instruction(Opcode.NOP, pop_next=1).encode())
    bad = tmp_path / "bad.encore"
    bad.write_bytes(data)
    _fake_rtl(monkeypatch, {"error": int(ErrorCode.DEPENDENCY), "error_index": 1})
    assert main(["rtl", str(bad)]) == errors.PROGRAM_ERROR
    line = _one_error_line(capsys, "rtl")
    assert line.startswith("encore rtl: error: DEPENDENCY at instruction 1 (NOP [pop_next]): ")
    assert line.endswith("(the RTL stopped with the same code and index)")
    _fake_rtl(monkeypatch, {"error": int(ErrorCode.DEPENDENCY), "error_index": 2})
    assert main(["rtl", str(bad)]) == errors.RTL_MISMATCH
    assert "the RTL reports DEPENDENCY at instruction 2, the functional simulator DEPENDENCY " \
        "at instruction 1" in _one_error_line(capsys, "rtl")
