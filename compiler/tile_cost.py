"""The tiler's cost model: cycles of a candidate instruction stream, from the timing model's own
formulas.

Every instruction is priced by the RTL's cycle formulas in isa/cycles.py (``busy_cycles``, which
sim/timing/costs.py uses too) and the
queues are replayed as docs/timing.md "The queue model" describes them, in one pass in program
order: dispatch one instruction per cycle (stalled by a full queue and by the data-check hold of
a vector instruction), each queue in order, ``START_CYCLES + busy`` per instruction, the k-th
pop on a channel waiting for the k-th push. Left out, because they do not separate one tiling
from another: instruction fetch (its share of the read channel) and the first-request offsets.
The compiler may not import sim/ (docs/architecture.md), so the replay is this short estimate
rather than ``sim.timing.estimate``; tests/test_tiler.py checks that it ranks tilings as the
timing model does.
"""

from __future__ import annotations

from collections import deque

from isa import Instruction, MachineConfig, Opcode, Queue, queue_of
from isa.cycles import QUEUE_CYCLES, RUNTIME_CHECKED, START_CYCLES, check_hold_cycles
from isa.cycles import busy_cycles as isa_busy_cycles
from isa.opcodes import NEIGHBOURS

#: (flag, neighbour queue) of each queue's token channels, from isa.opcodes.NEIGHBOURS.
_POPS = {q: tuple((f, n) for f, n in zip(("pop_prev", "pop_next"), NEIGHBOURS[q], strict=True)
                  if n is not None) for q in Queue}
_PUSHES = {q: tuple((f, n) for f, n in zip(("push_prev", "push_next"), NEIGHBOURS[q], strict=True)
                    if n is not None) for q in Queue}


def busy_cycles(ins: Instruction, cfg: MachineConfig) -> int:
    """Busy cycles of one instruction (``isa.cycles.busy_cycles``, as the timing model)."""
    return isa_busy_cycles(ins.op, ins.f, cfg.dim, cfg.dram_bytes_per_cycle, cfg.dram_latency)


def stream_cycles(instructions: list[Instruction], cfg: MachineConfig) -> int:
    """Estimated cycles from the first dispatch to the last completion of ``instructions``."""
    free = {q: 0 for q in Queue}  # cycle each queue can start its next instruction
    pushes: dict[tuple[Queue, Queue], list[int]] = {}
    pops: dict[tuple[Queue, Queue], int] = {}
    waiting = {q: deque() for q in Queue}  # starts of the last queue_depth instructions
    dispatch, hold, end = -1, 0, 0
    for ins in instructions:
        q = queue_of(ins.op)
        dispatch = max(dispatch + 1, hold)
        if len(waiting[q]) == cfg.queue_depth:  # full queue: wait for its oldest to start
            dispatch = max(dispatch, waiting[q].popleft() + 1)
        start = max(free[q], dispatch + QUEUE_CYCLES)
        for flag, pq in _POPS[q]:
            if ins.f[flag]:
                ch = (pq, q)
                k = pops.get(ch, 0)
                pops[ch] = k + 1
                start = max(start, pushes[ch][k])
        finish = start + START_CYCLES + busy_cycles(ins, cfg)
        waiting[q].append(start)
        free[q] = finish
        end = max(end, finish)
        for flag, cq in _PUSHES[q]:
            if ins.f[flag]:
                pushes.setdefault((q, cq), []).append(finish)
        if ins.op in RUNTIME_CHECKED:
            hold = start + check_hold_cycles(ins.op, ins.blocks if ins.op != Opcode.ATTN
                                             else ins.hd_blocks)
    return end
