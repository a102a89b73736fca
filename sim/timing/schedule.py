"""The queue model: when each instruction is fetched, dispatched, started and finished.

One pass over the program in program order, O(1) work per instruction (costs are closed forms
from sim/timing/costs.py). The machine it models is the RTL's (docs/rtl.md, "Execution";
constants in costs.py):

* **Fetch**: instruction i is requested from DRAM no earlier than ``FETCH_FIRST_REQUEST``, one
  request per cycle, and only while fewer than ``FETCH_DEPTH`` instructions are requested or
  buffered (request i waits until instruction i - FETCH_DEPTH has been dispatched); its word
  arrives ``dram_latency`` (+ beats - 1) later, one beat per cycle, and the dispatcher can take
  it ``FETCH_BUFFER_CYCLES`` after that. The read channel is shared with the load DMA, which
  has priority: a request that falls in a LOAD's request window (its ``read_bursts`` cycles
  from its first busy cycle) waits until the window ends, and a word requested after a LOAD's
  requests comes after the LOAD's last beat (the DRAM answers in request order). A LOAD's own
  timing does not depend on fetch (exact for ``dram_bytes_per_cycle >= 16`` and
  ``dram_latency >= FETCH_DEPTH - 1``: see docs/timing.md).
* **Dispatch**: one instruction per cycle in program order into its queue (load, compute or
  store), which holds at most ``queue_depth`` instructions that have not started; an
  instruction for a full queue stalls the dispatcher until that queue's oldest waiting
  instruction has started. After a RUNTIME_CHECKED instruction (REQUANT) the dispatcher waits
  until ``check_hold_cycles`` after its start (its data checks are made when it runs).
* **Queues** start their instructions in order, one at a time, each no earlier than
  ``QUEUE_CYCLES`` after its dispatch and no earlier than the previous one in the queue
  finished. An instruction takes ``START_CYCLES + busy`` cycles (``finish = start + that``).
* A pop flag waits for a token: the k-th pop on a channel (e.g. load -> compute) consumes the
  k-th push on it and cannot start before that push's instruction finished. Pushes happen at
  completion. A pop with no earlier push in program order is a DEPENDENCY error, as in the
  functional simulator.
* The run ends (the RTL's ``cycles`` counter stops) when the last instruction finishes.

Because every time is a max/+ combination of earlier times and non-negative costs, a cheaper
instruction never delays any other: faster DRAM never makes a program slower.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from isa import INSTR_BYTES, ErrorCode, Instruction, MachineConfig, Opcode, Queue
from isa.cycles import BOUNDARY_4K
from isa.fields import DEP_FLAGS
from isa.opcodes import NEIGHBOURS, QUEUE_OF

from ..checks import dram_range_error, missing_neighbour, static_error
from ..errors import SimError
from .costs import (
    FETCH_BUFFER_CYCLES,
    FETCH_DEPTH,
    FETCH_FIRST_REQUEST,
    QUEUE_CYCLES,
    RUNTIME_CHECKED,
    START_CYCLES,
    Cost,
    CostError,
    ceil_div,
    check_hold_cycles,
    instruction_cost,
)

_NEIGHBOURS = NEIGHBOURS
_QUEUE_OF = QUEUE_OF
_DMA = (Opcode.LOAD, Opcode.STORE)


@dataclass
class Schedule:
    """Per-instruction times (cycles, int64 arrays of the program's length) and costs.

    ``fetch``: cycle the dispatcher took it (dispatch); ``start`` / ``finish``: its execution
    interval (``finish - start == START_CYCLES + costs[i].cycles``); ``token_wait``: cycles it
    waited for dependency tokens after it could otherwise have started; ``starved``: cycles its
    queue sat empty waiting for the dispatcher to deliver it. ``dispatch_blocked[q]``: cycles
    the dispatcher stalled because queue ``q`` was full.
    """

    fetch: np.ndarray
    start: np.ndarray
    finish: np.ndarray
    token_wait: np.ndarray
    starved: np.ndarray
    costs: list[Cost]
    dispatch_blocked: dict[Queue, int]

    @property
    def cycles(self) -> int:
        """Cycles from START (cycle 0) until the last instruction finished."""
        return int(self.finish.max()) if len(self.finish) else 0


def schedule(instructions: list[Instruction], cfg: MachineConfig,
             dram_size: int | None = None) -> Schedule:
    """Time ``instructions`` on the machine ``cfg``.

    Raises SimError for every check that does not read data (sim/checks.py), in the functional
    simulator's order, naming the instruction's index: DEPENDENCY for a flag towards a missing
    queue or a pop without an earlier push, then the opcode's BAD_FIELD / SRAM_RANGE checks and,
    when ``dram_size`` is given, DRAM_RANGE.
    """
    n = len(instructions)
    fetch = [0] * n
    start = [0] * n
    finish = [0] * n
    token_wait = [0] * n
    starved = [0] * n
    costs: list[Cost] = [None] * n  # type: ignore[list-item]
    depth = cfg.queue_depth
    # Starts of the last `depth` instructions of each queue (the queue's occupancy window).
    window = {q: deque(maxlen=depth) for q in Queue}
    last_finish = dict.fromkeys(Queue, 0)
    pushes = {(a, b): [] for a in Queue for b in Queue if abs(a - b) == 1}
    pops_done = dict.fromkeys(pushes, 0)
    blocked = dict.fromkeys(Queue, 0)
    # Keyed by opcode and field values (layout order is fixed per opcode): cheaper to hash than
    # the Instruction.
    cost_cache: dict[tuple, Cost] = {}
    lat = cfg.dram_latency
    word_beats = ceil_div(INSTR_BYTES, cfg.dram_bytes_per_cycle)
    request = FETCH_FIRST_REQUEST - 1  # cycle of the previous fetch request
    arrived = -word_beats  # cycle of the previous word's last beat
    dispatched = deque(maxlen=FETCH_DEPTH)  # dispatch cycles of the last FETCH_DEPTH
    # LOADs not yet passed by a fetch request: (start, last AR cycle, last beat), time order.
    loads: deque[tuple[int, int, int]] = deque()
    next_dispatch = 0  # earliest dispatch cycle of the next instruction (order, holds)
    for i, ins in enumerate(instructions):
        op = ins.op
        q = _QUEUE_OF.get(op, Queue.COMPUTE)
        f = ins.f
        dma = op in _DMA
        # A DMA's cost and checks depend on its DRAM address only through the address modulo
        # 4 KiB (its beats on the bus width, a multiple of which 4 KiB is; a LOAD's bursts on
        # its rows' 4 KiB crossings) and the DRAM range check, made on every DMA below.
        key = (op, *f.values()) if not dma else (op, f["mem"], f["sram_addr"], f["rows"],
                                                 f["cols"], f["dram_stride"],
                                                 f["dram_addr"] % BOUNDARY_4K,
                                                 *(f[d] for d in DEP_FLAGS))
        prev, nxt = _NEIGHBOURS[q]
        cost = cost_cache.get(key)
        if cost is None:
            _check(ins, i, cfg, dram_size, pushes, pops_done)
            try:
                cost = instruction_cost(ins, cfg)
            except CostError as e:  # pragma: no cover - static_error rejects these first
                raise SimError(ErrorCode.BAD_FIELD, i, str(e), ins) from None
            cost_cache[key] = cost
        else:
            if f["pop_prev"] or f["pop_next"]:  # flags towards missing queues: in the key
                _check_tokens(ins, i, q, pushes, pops_done)
            if dma and dram_size is not None:
                err = dram_range_error(ins, dram_size)
                if err is not None:
                    raise SimError(err[0], i, err[1], ins)
        # Fetch: one request per cycle, at most FETCH_DEPTH requested or buffered.
        request += 1
        if len(dispatched) == FETCH_DEPTH:
            request = max(request, dispatched[0] + 1)
        while loads and loads[0][0] < request:  # a LOAD whose requests began by then
            _, ar_last, last_beat = loads.popleft()
            request = max(request, ar_last + 1)
            arrived = max(arrived, last_beat)
        arrived = max(request + lat + word_beats - 1, arrived + word_beats)
        # Dispatcher: in order, one per cycle, stall while the target queue is full.
        win = window[q]
        fetched = max(next_dispatch, arrived + FETCH_BUFFER_CYCLES)
        if len(win) == depth and win[0] + 1 > fetched:
            blocked[q] += win[0] + 1 - fetched
            fetched = win[0] + 1
        next_dispatch = fetched + 1
        dispatched.append(fetched)
        ready_fetch = fetched + QUEUE_CYCLES
        ready = max(ready_fetch, last_finish[q])
        s = ready
        for flag, other in (("pop_prev", prev), ("pop_next", nxt)):
            if not f[flag]:
                continue
            ch = (other, q)
            k = pops_done[ch]
            pops_done[ch] = k + 1
            s = max(s, pushes[ch][k])
        e = s + START_CYCLES + cost.cycles
        if cost.read_bursts:
            loads.append((s, s + cost.read_bursts, e - 1))
        if op in RUNTIME_CHECKED:
            next_dispatch = max(next_dispatch, s + check_hold_cycles(op, _blocks(ins)))
        for flag, other in (("push_prev", prev), ("push_next", nxt)):
            if f[flag]:
                pushes[(q, other)].append(e)
        fetch[i], start[i], finish[i] = fetched, s, e
        token_wait[i] = s - ready
        starved[i] = max(0, ready_fetch - last_finish[q])
        costs[i] = cost
        last_finish[q] = e
        win.append(s)
    as_array = lambda v: np.asarray(v, dtype=np.int64)  # noqa: E731
    return Schedule(
        fetch=as_array(fetch),
        start=as_array(start),
        finish=as_array(finish),
        token_wait=as_array(token_wait),
        starved=as_array(starved),
        costs=costs,
        dispatch_blocked=blocked,
    )


def _check(ins: Instruction, i: int, cfg: MachineConfig, dram_size: int | None,
           pushes: dict, pops_done: dict) -> None:
    """Raise the SimError the functional simulator raises at instruction ``i``, if any (without
    data checks): missing neighbour, token underflow, then the opcode's static checks."""
    msg = missing_neighbour(ins)
    if msg is not None:
        raise SimError(ErrorCode.DEPENDENCY, i, msg, ins)
    _check_tokens(ins, i, ins.queue, pushes, pops_done)
    err = static_error(ins, cfg, dram_size)
    if err is not None:
        raise SimError(err[0], i, err[1], ins)


def _check_tokens(ins: Instruction, i: int, q: Queue, pushes: dict, pops_done: dict) -> None:
    """DEPENDENCY if a pop flag of ``ins`` finds no earlier push on its channel."""
    for flag, other in zip(("pop_prev", "pop_next"), _NEIGHBOURS[q], strict=True):
        if ins.f[flag] and pops_done[(other, q)] >= len(pushes[(other, q)]):
            raise SimError(ErrorCode.DEPENDENCY, i, f"{flag}: no token from the {other.name} "
                           "queue was pushed earlier in program order", ins)


def _blocks(ins: Instruction) -> int:
    """The column blocks a RUNTIME_CHECKED instruction's shift scan covers."""
    return ins.hd_blocks if ins.op == Opcode.ATTN else ins.blocks
