"""Hand-made programs and Hypothesis strategies for the timing-model tests."""

from __future__ import annotations

from hypothesis import strategies as st

from isa import Instruction, MachineConfig, Opcode, Program, Queue
from isa.opcodes import NEIGHBOURS

DRAM = 1 << 16
KINDS = ("load", "store", "gemm", "requant", "layernorm", "attn", "nop")


def program(cfg: MachineConfig, instructions: list[Instruction], **meta) -> Program:
    return Program(config=cfg, instructions=instructions, dram_init=b"", dram_size=DRAM, meta=meta)


def load(rows=16, cols=16, mem=0, stride=None, **deps) -> Instruction:
    esize = 4 if mem else 1
    stride = cols * esize if stride is None else stride
    return Instruction(Opcode.LOAD, mem=mem, sram_addr=0, rows=rows, cols=cols, dram_addr=0,
                       dram_stride=stride, **deps)


def store(rows=16, cols=16, mem=0, stride=None, **deps) -> Instruction:
    esize = 4 if mem else 1
    stride = cols * esize if stride is None else stride
    return Instruction(Opcode.STORE, mem=mem, sram_addr=0, rows=rows, cols=cols, dram_addr=0,
                       dram_stride=stride, **deps)


def gemm(rows=16, kblocks=1, **deps) -> Instruction:
    return Instruction(Opcode.GEMM, rows=rows, kblocks=kblocks, a_stride=rows, **deps)


_NEIGHBOURS = NEIGHBOURS


@st.composite
def token_programs(draw, max_len: int = 40, max_cols: int = 16) -> list[Instruction]:
    """Random instruction lists whose pops are always preceded by a matching push (so they are
    valid programs), mixing LOAD, STORE, GEMM, vector ops, ATTN and NOP of random sizes."""
    n = draw(st.integers(1, max_len))
    tokens = {(a, b): 0 for a in Queue for b in Queue if abs(a - b) == 1}
    out = []
    for _ in range(n):
        kind = draw(st.sampled_from(KINDS))
        rows = draw(st.integers(1, 64))
        if kind == "load":
            ins = load(rows=rows, cols=draw(st.integers(1, max_cols)), mem=draw(st.integers(0, 1)),
                       stride=draw(st.sampled_from([None, 0, 64])))
        elif kind == "store":
            ins = store(rows=rows, cols=draw(st.integers(1, max_cols)))
        elif kind == "gemm":
            ins = gemm(rows=rows, kblocks=draw(st.integers(1, 6)))
        elif kind == "requant":
            ins = Instruction(Opcode.REQUANT, rows=rows, blocks=draw(st.integers(1, 4)))
        elif kind == "layernorm":
            ins = Instruction(Opcode.LAYERNORM, rows=rows, blocks=draw(st.integers(1, 4)))
        elif kind == "attn":
            ins = Instruction(Opcode.ATTN, seq=rows, hd_blocks=draw(st.integers(1, 4)))
        else:
            ins = Instruction(Opcode.NOP)
        q = ins.queue
        prev, nxt = _NEIGHBOURS[q]
        flags = {}
        for flag, other in (("pop_prev", prev), ("pop_next", nxt)):
            if other is not None and tokens[(other, q)] and draw(st.booleans()):
                tokens[(other, q)] -= 1
                flags[flag] = 1
        for flag, other in (("push_prev", prev), ("push_next", nxt)):
            if other is not None and draw(st.booleans()):
                tokens[(q, other)] += 1
                flags[flag] = 1
        out.append(ins.with_deps(**flags) if flags else ins)
    return out
