"""Instruction encoding, machine parameters and the program file format."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isa import (
    LAYOUT,
    DecodeError,
    ErrorCode,
    Instruction,
    MachineConfig,
    Opcode,
    Program,
    ProgramFileError,
    decode_program,
    encode_program,
)
from isa.program import FORMAT_VERSION, MAGIC


@st.composite
def instructions(draw):
    op = draw(st.sampled_from(list(Opcode)))
    fields = {name: draw(st.integers(0, (1 << width) - 1))
              for name, (_, width) in LAYOUT[op].items() if name != "opcode"}
    return Instruction(op, **fields)


@settings(max_examples=400, deadline=None)
@given(instructions())
def test_encode_decode_round_trip(ins):
    word = ins.encode()
    assert word < 1 << 128
    assert Instruction.decode(word) == ins
    assert decode_program(encode_program([ins, ins])) == [ins, ins]


def test_every_opcode_fits_128_bits():
    for op, layout in LAYOUT.items():
        assert max(lsb + w for lsb, w in layout.values()) <= 128, op


def test_field_range_errors_name_the_field():
    with pytest.raises(ValueError, match=r"GEMM.rows=65536 does not fit its 16-bit field"):
        Instruction(Opcode.GEMM, rows=1 << 16)
    with pytest.raises(ValueError, match="LOAD has no field 'bogus'"):
        Instruction(Opcode.LOAD, bogus=1)


def test_decode_illegal_opcode_and_stray_bits():
    with pytest.raises(DecodeError, match="illegal opcode 31") as e:
        Instruction.decode(31)
    assert e.value.code == ErrorCode.ILLEGAL_OPCODE
    with pytest.raises(DecodeError, match="unused bits") as e:
        Instruction.decode(int(Opcode.NOP) | (1 << 100))
    assert e.value.code == ErrorCode.BAD_FIELD


@pytest.mark.parametrize("dim", [0, 3, 12, 256, 1024])
def test_unaddressable_array_sizes_are_rejected(dim):
    with pytest.raises(ValueError, match=f"array size dim={dim} cannot be addressed"):
        MachineConfig(dim=dim)


def test_machine_config_checks_sizes():
    with pytest.raises(ValueError, match="more than the 18-bit row address"):
        MachineConfig(dim=4, sp_kib=2048)
    with pytest.raises(TypeError, match="must be an int"):
        MachineConfig(dim="16")
    with pytest.raises(ValueError, match="unknown machine parameter"):
        MachineConfig.from_dict({"dim": 16, "speed": 3})
    cfg = MachineConfig(dim=8, sp_kib=64, acc_kib=32)
    assert (cfg.sp_rows, cfg.acc_rows) == (8192, 1024)


def _small_program():
    from compiler.testprogs import linear_program

    return linear_program(MachineConfig(dim=4, sp_kib=4, acc_kib=4), 5, 6, 7, bias=True)[0]


def test_program_file_round_trip(tmp_path):
    prog = _small_program()
    path = tmp_path / "p.encore"
    prog.save(path)
    back = Program.load(path)
    assert back.instructions == prog.instructions
    assert back.dram_init == prog.dram_init and back.config == prog.config
    assert back.tensors.keys() == prog.tensors.keys()


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[: len(b) // 2], "is truncated"),
    (lambda b: b[:-1] + bytes([b[-1] ^ 1]), "checksum does not match"),
    (lambda b: b"GARBAGE!" + b[8:], "is not an Encore program file"),
    (lambda b: MAGIC + (FORMAT_VERSION + 1).to_bytes(4, "little") + b[12:], "version"),
    (lambda b: b[:20], "header is incomplete"),
    (lambda b: b"", "is not an Encore program file"),
])
def test_corrupt_program_files_give_clear_errors(tmp_path, damage, message):
    data = _small_program().to_bytes()
    path = tmp_path / "bad.encore"
    path.write_bytes(damage(data))
    with pytest.raises(ProgramFileError, match=message):
        Program.load(path)


def test_missing_program_file(tmp_path):
    with pytest.raises(ProgramFileError, match="does not exist"):
        Program.load(tmp_path / "nope.encore")


def test_tensor_write_read_round_trip():
    prog = _small_program()
    dram = prog.new_dram()
    x = np.arange(30).reshape(5, 6) - 15
    prog.write_tensor(dram, "x", x)
    assert np.array_equal(prog.read_tensor(dram, "x"), x)
    with pytest.raises(ValueError, match=r"expected shape \(5, 6\)"):
        prog.write_tensor(dram, "x", x.T)
