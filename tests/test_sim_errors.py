"""The functional simulator stops with the documented error code on bad programs."""

import pytest

from compiler.testprogs import linear_program
from isa import ErrorCode, Instruction, MachineConfig, Mem, Opcode, Program
from sim import FunctionalSim, SimError

CFG = MachineConfig(dim=4, sp_kib=1, acc_kib=1)  # 256 scratchpad rows, 64 accumulator rows


def _run(*instructions, dram_size=256):
    prog = Program(config=CFG, instructions=list(instructions), dram_init=b"", dram_size=dram_size)
    FunctionalSim(prog).run()


@pytest.mark.parametrize("ins, code, message", [
    (Instruction(Opcode.LOAD, mem=Mem.SP, sram_addr=250, rows=10, cols=4, dram_stride=4),
     ErrorCode.SRAM_RANGE, r"rows \[250, 260\) exceed the scratchpad \(256 rows\)"),
    (Instruction(Opcode.LOAD, mem=Mem.ACC, sram_addr=0, rows=2, cols=4, dram_addr=250,
                 dram_stride=16), ErrorCode.DRAM_RANGE, "past the end of DRAM"),
    (Instruction(Opcode.STORE, mem=Mem.SP, rows=1, cols=5), ErrorCode.BAD_FIELD,
     "cols=5 exceeds DIM=4"),
    (Instruction(Opcode.GEMM, rows=0, kblocks=1), ErrorCode.BAD_FIELD, "rows must be >= 1"),
    (Instruction(Opcode.GEMM, rows=8, kblocks=1, c_addr=60), ErrorCode.SRAM_RANGE,
     "accumulator"),
    (Instruction(Opcode.NOP, pop_prev=1), ErrorCode.DEPENDENCY, "no token"),
    (Instruction(Opcode.LOAD, rows=1, cols=1, pop_prev=1), ErrorCode.DEPENDENCY,
     "no such neighbour"),
    (Instruction(Opcode.ATTN, seq=600, hd_blocks=1), ErrorCode.BAD_FIELD, "exceeds max_seq"),
])
def test_error_codes(ins, code, message):
    with pytest.raises(SimError, match=message) as e:
        _run(Instruction(Opcode.NOP), ins)
    assert e.value.code == code and e.value.index == 1


def test_error_stops_before_later_instructions():
    prog, _, _ = linear_program(CFG, 4, 4, 4)
    bad = Instruction(Opcode.GEMM, rows=1, kblocks=1, w_addr=255)
    prog.instructions = [bad, *prog.instructions]
    sim = FunctionalSim(prog)
    with pytest.raises(SimError) as e:
        sim.run()
    assert e.value.code == ErrorCode.SRAM_RANGE and e.value.index == 0
    assert sim.stats.by_opcode == {}
