"""The queue model's share of the AXI read channel between instruction fetch and LOADs (the
RTL's cycles are checked against it in tests/hw/test_rtl_cycles.py and test_rtl_random.py)."""

from __future__ import annotations

import numpy as np

import sim.timing
from isa import Instruction, MachineConfig, Mem, Opcode, Program
from isa.cycles import FETCH_BUFFER_CYCLES, dma_bursts


def _bursts_by_row(rows, row_bytes, addr, stride, bw):
    """One burst per row, two when the row's bus-aligned span crosses a 4 KiB boundary."""
    n = 0
    for i in range(rows):
        a = addr + i * stride
        lo = a - a % bw
        hi = -(-(a + row_bytes) // bw) * bw
        n += 1 + (lo // 4096 != (hi - 1) // 4096)
    return n


def test_burst_count_over_strides_and_boundaries():
    rng = np.random.default_rng(0)
    for _ in range(400):
        bw = int(rng.choice([4, 16, 64]))
        row_bytes = int(rng.integers(1, 257))
        rows = int(rng.integers(1, 300))
        stride = int(rng.choice([0, row_bytes, int(rng.integers(1, 5000)), 4096, 4096 + 16]))
        addr = int(rng.integers(0, 20000))
        args = (rows, row_bytes, addr, stride, bw)
        assert dma_bursts(*args) == _bursts_by_row(*args), args


def test_a_long_load_holds_back_the_fetch_behind_it():
    """A 200-row LOAD holds AR for 200 cycles from its first busy cycle: instructions whose
    fetch was requested before that are not delayed, the next ones (requested as the first
    NOPs are dispatched, inside the window) arrive only after the LOAD's last beat."""
    cfg = MachineConfig(dim=4, dram_latency=16)
    load = Instruction(Opcode.LOAD, mem=Mem.SP, sram_addr=0, rows=200, cols=4, dram_addr=0,
                       dram_stride=16)
    prog = Program(config=cfg, instructions=[load] + [Instruction(Opcode.NOP)] * 12,
                   dram_init=b"", dram_size=4096)
    sched = sim.timing.schedule(prog.instructions, cfg, prog.dram_size)
    start, end = int(sched.start[0]), int(sched.finish[0])
    assert end == start + 1 + 16 + 200
    dispatch = sched.fetch.tolist()
    # Not delayed: requested by the LOAD's start cycle, so dispatched by then + latency + buffer.
    early = [i for i in range(1, 13)
             if dispatch[i] <= start + cfg.dram_latency + FETCH_BUFFER_CYCLES]
    late = [i for i in range(1, 13) if dispatch[i] > end]
    assert early == list(range(1, len(early) + 1)) and len(early) >= 8
    assert late == list(range(len(early) + 1, 13))
