"""The queue model: exact small schedules, token order, queue depth, monotonicity, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from timing_progs import gemm, load, program, store, token_programs

from isa import ErrorCode, Instruction, MachineConfig, Opcode, Queue
from sim import SimError
from sim.timing import estimate, schedule

CFG = MachineConfig(dim=16, dram_bytes_per_cycle=16, dram_latency=64)


def test_load_gemm_store_chain_is_timed_exactly():
    prog = [load(push_next=1), gemm(pop_prev=1, push_next=1), store(pop_prev=1)]
    s = schedule(prog, CFG)
    # Instruction i is requested in cycle 1 + i, arrives 64 later, is dispatched 5 after that
    # (3 check stages and the 2-cycle buffer: 70, 71, 72) and can start 2 after its dispatch.
    # Each takes 1 start cycle + its busy time.
    # LOAD: 64 latency + 16 rows of 16 bytes = 80, so it finishes at 72 + 1 + 80 = 153.
    # GEMM of 16 rows, 1 K-block at DIM 16 (SRAM read latency 2, a product stage per PE):
    # 16 + 2*16 + 5 = 53 cycles: 153 + 54 = 207.
    # STORE: 16 beats + 64 write latency + 6 = 86: 207 + 87 = 294.
    assert s.fetch.tolist() == [70, 71, 72]
    assert s.start.tolist() == [72, 153, 207]
    assert s.finish.tolist() == [153, 207, 294]
    assert s.token_wait.tolist() == [0, 80, 133]
    assert s.cycles == 294


def test_independent_queues_overlap():
    prog = [load(), gemm(), store()]
    s = schedule(prog, CFG)
    assert s.start.tolist() == [72, 73, 74]
    assert s.cycles == max(s.finish) == 74 + 1 + 86


def test_requant_holds_the_dispatcher_until_its_shift_check():
    req = Instruction(Opcode.REQUANT, rows=4, blocks=3, pop_prev=1)
    prog = [load(push_next=1), req, load()]
    s = schedule(prog, CFG)
    # REQUANT starts when the first LOAD finishes; the next LOAD is dispatched only
    # 1 + 3 + 2 cycles after that (start cycle, 3 shift rows, SRAM latency 2), not at 72.
    assert s.start[1] == s.finish[0]
    assert s.fetch[2] == s.start[1] + 6
    assert s.finish[1] - s.start[1] == 1 + 3 * (4 + 4) + 10  # VECTOR_PIPELINE: 2 + 1 + 4 + 3


def _matching_pairs(instrs):
    """(producer, consumer) index pairs: the k-th pop on a channel takes the k-th push."""
    nb = {Queue.LOAD: (None, Queue.COMPUTE), Queue.COMPUTE: (Queue.LOAD, Queue.STORE),
          Queue.STORE: (Queue.COMPUTE, None)}
    pushes, pops = {}, {}
    for i, ins in enumerate(instrs):
        prev, nxt = nb[ins.queue]
        for flag, other in (("push_prev", prev), ("push_next", nxt)):
            if ins.f[flag]:
                pushes.setdefault((ins.queue, other), []).append(i)
        for flag, other in (("pop_prev", prev), ("pop_next", nxt)):
            if ins.f[flag]:
                pops.setdefault((other, ins.queue), []).append(i)
    return [(pushes[ch][k], c) for ch, cs in pops.items() for k, c in enumerate(cs)]


@settings(max_examples=200, deadline=None)
@given(instrs=token_programs())
def test_tokens_order_and_queue_invariants(instrs):
    s = schedule(instrs, CFG)
    for producer, consumer in _matching_pairs(instrs):
        assert producer < consumer
        assert s.start[consumer] >= s.finish[producer]
    for q in Queue:
        idx = [i for i, ins in enumerate(instrs) if ins.queue == q]
        # in order, one at a time
        assert all(s.start[b] >= s.finish[a] for a, b in zip(idx, idx[1:], strict=False))
    assert all(s.finish[i] - s.start[i] == 1 + c.cycles for i, c in enumerate(s.costs))
    assert all(s.start[i] >= s.fetch[i] + 2 for i in range(len(instrs)))
    assert np.all(np.diff(s.fetch) >= 1)


@settings(max_examples=150, deadline=None)
@given(instrs=token_programs(), bw=st.sampled_from([1, 2, 4, 8, 16, 32, 64, 128]),
       factor=st.sampled_from([2, 4, 8]), lat=st.integers(0, 300), depth=st.integers(1, 8))
def test_more_dram_bandwidth_never_slows_a_program(instrs, bw, factor, lat, depth):
    cfg = MachineConfig(dram_bytes_per_cycle=bw, dram_latency=lat, queue_depth=depth)
    slow = schedule(instrs, cfg).cycles
    fast = schedule(instrs, cfg.replace(dram_bytes_per_cycle=bw * factor)).cycles
    assert fast <= slow


@settings(max_examples=100, deadline=None)
@given(instrs=token_programs(max_cols=4), dim=st.sampled_from([4, 8, 16, 32]))
def test_total_never_below_the_ideal_bound(instrs, dim):
    rep = estimate(program(MachineConfig(dim=dim), instrs))
    assert rep.cycles >= rep.ideal_cycles
    assert rep.utilization <= 1.0


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_full_queue_blocks_the_dispatcher(depth):
    # One slow compute instruction, then more compute work: the dispatcher waits for space.
    prog = [gemm(rows=500, kblocks=4)] + [gemm(rows=1)] * (depth + 3) + [load()]
    s = schedule(prog, CFG.replace(queue_depth=depth))
    compute = [i for i, ins in enumerate(prog) if ins.queue == Queue.COMPUTE]
    for a, b in zip(compute, compute[depth:], strict=False):
        assert s.fetch[b] >= s.start[a] + 1  # b enters only once a has left the queue
    assert s.dispatch_blocked[Queue.COMPUTE] > 0
    # the LOAD behind the blocked dispatcher starts late although its queue is empty
    assert s.start[-1] > s.start[0] + 2000
    deep = schedule(prog, CFG.replace(queue_depth=64))
    assert sum(deep.dispatch_blocked.values()) == 0
    assert deep.start[-1] == deep.fetch[-1] + 2  # its queue was empty: no wait


def test_pop_without_push_is_a_dependency_error_naming_the_index():
    with pytest.raises(SimError, match="instruction 1: DEPENDENCY: pop_prev") as e:
        schedule([gemm(), gemm(pop_prev=1)], CFG)
    assert e.value.code == ErrorCode.DEPENDENCY and e.value.index == 1


@pytest.mark.parametrize("ins,flag", [(load(push_prev=1), "push_prev"),
                                      (store(pop_next=1), "pop_next")])
def test_flag_towards_a_missing_queue_is_a_dependency_error(ins, flag):
    with pytest.raises(SimError, match=f"instruction 0: DEPENDENCY: .*{flag}"):
        schedule([ins], CFG)


def test_bad_field_is_a_bad_field_sim_error():
    with pytest.raises(SimError, match="instruction 2: BAD_FIELD: GEMM.rows must be >= 1") as e:
        schedule([load(), gemm(), Instruction(Opcode.GEMM, rows=0, kblocks=1)], CFG)
    assert e.value.code == ErrorCode.BAD_FIELD


def test_empty_program_takes_no_cycles():
    rep = estimate(program(CFG, []))
    assert rep.cycles == 0 and rep.utilization == 0.0 and rep.layers == []


def test_sixty_thousand_instructions_are_timed():
    """A long program completes (its speed is a benchmark: benchmarks/latency_timing_speed.py)."""
    body = [load(rows=64, push_next=1), gemm(rows=64, kblocks=4, pop_prev=1, push_next=1),
            Instruction(Opcode.REQUANT, rows=64, blocks=1), store(rows=64, pop_prev=1)]
    prog = program(CFG, body * 15_000)
    rep = estimate(prog)
    assert rep.cycles > 15_000 * (64 * 4)
