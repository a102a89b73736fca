"""Each instruction's cost equals its closed form (written out again here, as docs/timing.md
states it), and the cost functions keep the properties the model relies on."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isa import Instruction, MachineConfig, Opcode
from isa import cycles as isa_cycles
from sim.timing import CostError, Unit, instruction_cost
from sim.timing import costs as C

dims = st.sampled_from([4, 8, 16, 32, 64])
bws = st.integers(1, 256)
pow2_bws = st.sampled_from([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024])
lats = st.integers(0, 500)


@given(dim=dims, bw=bws, lat=lats, rows=st.integers(1, 2000), cols=st.integers(1, 64),
       mem=st.integers(0, 1), stride=st.one_of(st.none(), st.integers(0, 1 << 20)),
       addr=st.integers(0, 1 << 24), store=st.booleans())
def test_dma_cost_is_the_closed_form(dim, bw, lat, rows, cols, mem, stride, addr, store):
    cols = min(cols, dim)
    esize = 4 if mem else 1
    row_bytes = cols * esize
    stride = row_bytes if stride is None else stride
    cfg = MachineConfig(dim=dim, dram_bytes_per_cycle=bw, dram_latency=lat)
    op = Opcode.STORE if store else Opcode.LOAD
    ins = Instruction(op, mem=mem, rows=rows, cols=cols, dram_addr=addr, dram_stride=stride)
    # one burst per row over the bus-aligned span of its bytes
    beats = sum(math.ceil(((addr + i * stride) % bw + row_bytes) / bw) for i in range(rows))
    cost = instruction_cost(ins, cfg)
    # LOAD: latency once, then one beat per cycle; STORE: beats, write-response latency and
    # 6 fixed cycles (SRAM read latency 2, row FIFO, row latch, counting the last B) -- both
    # RTL-exact.
    assert cost.cycles == lat + beats + (6 if store else 0)
    assert cost.unit == (Unit.STORE_DMA if store else Unit.LOAD_DMA)
    assert (cost.dram_written if store else cost.dram_read) == rows * row_bytes


@given(dim=dims, rows=st.integers(1, 4000), kblocks=st.integers(1, 4095))
def test_gemm_cost_is_the_closed_form(dim, rows, kblocks):
    cost = instruction_cost(Instruction(Opcode.GEMM, rows=rows, kblocks=kblocks),
                            MachineConfig(dim=dim))
    assert cost.cycles == (kblocks - 1) * max(rows, dim) + rows + 2 * dim + 5
    assert cost.array_cycles == cost.cycles
    assert cost.macs == rows * kblocks * dim * dim
    # never faster than the ideal: one A row per K-block per cycle
    assert cost.cycles >= cost.macs // (dim * dim)


# The vector formulas are the RTL's (isa/cycles.py), measured on the RTL by tests/hw/
# test_vector*.py and test_rtl_cycles.py; here only the properties the model relies on.
@pytest.mark.parametrize("op", [Opcode.REQUANT, Opcode.GELU, Opcode.RESADD, Opcode.LAYERNORM])
@given(rows=st.integers(1, 5000), blocks=st.integers(1, 1022))
def test_vector_costs_grow_with_the_tile(op, rows, blocks):
    def cost(r, b):
        return instruction_cost(Instruction(op, rows=r, blocks=b), MachineConfig())

    c = cost(rows, blocks)
    assert c.unit == Unit.VECTOR and c.macs == 0 and c.array_cycles == 0
    assert rows * blocks <= c.cycles < cost(rows + 1, blocks).cycles
    assert c.cycles < cost(rows, blocks + 1).cycles


@given(dim=dims, seq=st.integers(1, 511), hb=st.integers(1, 62))
def test_attn_cost_is_the_rtl_formula(dim, seq, hb):
    """ATTN is priced by the RTL's formula (isa.cycles.attn_cycles, measured on the RTL in
    tests/hw/test_attention.py); the engine does at most 2 DIM MACs per cycle (QK^T and PV of
    two rows side by side, DIM each) and its cost grows with seq and head blocks."""
    def cost(s, h):
        return instruction_cost(Instruction(Opcode.ATTN, seq=s, hd_blocks=h),
                                MachineConfig(dim=dim))

    c = cost(seq, hb)
    assert c.cycles == isa_cycles.compute_cycles(Opcode.ATTN, {"seq": seq, "hd_blocks": hb}, dim)
    assert c.unit == Unit.ATTENTION and c.array_cycles == 0
    assert c.macs == 2 * seq * seq * hb * dim
    assert c.cycles >= c.macs / (2 * dim)
    assert c.cycles < cost(seq + 1, hb).cycles and c.cycles < cost(seq, hb + 1).cycles


def test_nop_costs_one_cycle():
    assert instruction_cost(Instruction(Opcode.NOP), MachineConfig()).cycles == C.NOP_CYCLES == 1


@given(rows=st.integers(1, 3000), row_bytes=st.integers(1, 512), stride=st.integers(0, 1 << 16),
       addr=st.integers(0, 1 << 20), bw=st.sampled_from([1, 2, 4, 8, 16, 32, 64, 128, 256, 512]))
def test_dma_beats_never_rise_with_a_wider_bus(rows, row_bytes, stride, addr, bw):
    # Bus widths are powers of two (AXI); a wider bus never needs more beats for the same span.
    wide = C.dma_beats(rows, row_bytes, addr, stride, 2 * bw)
    assert wide <= C.dma_beats(rows, row_bytes, addr, stride, bw)
    assert wide >= rows  # at least one beat per row


@pytest.mark.parametrize("ins,message", [
    (Instruction(Opcode.GEMM, rows=0, kblocks=1), "GEMM.rows=0 is invalid: expected >= 1"),
    (Instruction(Opcode.GEMM, rows=4, kblocks=0), "GEMM.kblocks=0 is invalid"),
    (Instruction(Opcode.LOAD, rows=1, cols=17), "LOAD.cols=17 is invalid: expected 1..16"),
    (Instruction(Opcode.STORE, rows=1, cols=0), "STORE.cols=0 is invalid"),
    (Instruction(Opcode.GELU, rows=3, blocks=0), "GELU.blocks=0 is invalid"),
    (Instruction(Opcode.ATTN, seq=600, hd_blocks=1), "ATTN.seq=600 is invalid: expected 1..512"),
])
def test_bad_fields_raise_cost_error_naming_the_value(ins, message):
    with pytest.raises(CostError, match=message.replace(".", r"\.")):
        instruction_cost(ins, MachineConfig())
