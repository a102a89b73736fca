"""Instruction emitter that inserts dependency tokens from declared memory accesses.

Lowering code appends instructions in a valid sequential order and declares what each one reads
and writes (scratchpad / accumulator row ranges, DRAM byte ranges). The emitter finds every
cross-queue hazard (read-after-write, write-after-read, write-after-write) and turns it into VTA
dependency tokens:

* neighbouring queues (load<->compute, compute<->store): a push flag on the producer and a pop
  flag on the consumer. Tokens are matched first-in first-out, so the emitter keeps, per direction,
  the newest producer already waited for and only adds a token for a newer one.
* load<->store (not neighbours): a NOP in the compute queue relays the token.

Same-queue order needs no token: each queue executes in order and completes its writes in order.
The result is a program whose program order is a valid sequential schedule (docs/isa.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from isa import Instruction, Opcode, Queue, queue_of

SP, ACC, DRAM = "sp", "acc", "dram"
Access = tuple[str, int, int]  # (space, lo, hi) rows for SRAM, bytes for DRAM; hi exclusive

_FLAG = {  # (producer queue, consumer queue) -> (producer push flag, consumer pop flag)
    (Queue.LOAD, Queue.COMPUTE): ("push_next", "pop_prev"),
    (Queue.COMPUTE, Queue.LOAD): ("push_prev", "pop_next"),
    (Queue.COMPUTE, Queue.STORE): ("push_next", "pop_prev"),
    (Queue.STORE, Queue.COMPUTE): ("push_prev", "pop_next"),
}


@dataclass
class _Entry:
    lo: int
    hi: int
    writer: int | None = None  # instruction index of the last writer
    readers: dict[Queue, int] = field(default_factory=dict)  # newest reader per queue since it


class Emitter:
    """Collects instructions; ``finish()`` returns them with dependency flags set."""

    def __init__(self) -> None:
        self._ops: list[Opcode] = []
        self._fields: list[dict[str, int]] = []
        self._queues: list[Queue] = []
        self._sram: dict[str, list[_Entry]] = {SP: [], ACC: []}
        self._dram: dict[tuple[int, int], _Entry] = {}
        self._waited: dict[tuple[Queue, Queue], int] = {k: -1 for k in _FLAG}
        self._popper: dict[tuple[Queue, Queue], int] = {}
        self.layers: list[dict] = []
        self._layer_start: int | None = None
        self._layer_name: str | None = None

    def __len__(self) -> int:
        return len(self._ops)

    # -- layer annotations (for per-layer reports) --------------------------------------------
    def begin_layer(self, name: str) -> None:
        self.end_layer()
        self._layer_name, self._layer_start = name, len(self._ops)

    def end_layer(self) -> None:
        if self._layer_name is not None and len(self._ops) > self._layer_start:
            self.layers.append({"name": self._layer_name, "start": self._layer_start,
                                "end": len(self._ops)})
        self._layer_name = None

    # -- emission -------------------------------------------------------------------------------
    def emit(self, op: Opcode, *, reads: tuple[Access, ...] = (), writes: tuple[Access, ...] = (),
             **fields: int) -> int:
        """Append one instruction; returns its index."""
        Instruction(op, **fields)  # validate field names and widths now, where the bug is
        queue = queue_of(op)
        need = self._hazards(queue, reads, writes)
        for pq in [q for q in need if (q, queue) not in _FLAG]:  # load <-> store: relay
            relay = self._relay(pq, need.pop(pq))
            need[Queue.COMPUTE] = max(need.get(Queue.COMPUTE, -1), relay)
        fields = dict(fields)
        index = len(self._ops)
        for pq, idx in need.items():
            pop = self._token(pq, idx, queue, index)
            if pop:
                fields[pop] = 1
        self._append(op, queue, fields)
        self._record(index, queue, reads, writes)
        return index

    def _append(self, op: Opcode, queue: Queue, fields: dict[str, int]) -> int:
        self._ops.append(op)
        self._fields.append(dict(fields))
        self._queues.append(queue)
        return len(self._ops) - 1

    def _entries(self, space: str, lo: int, hi: int) -> list[_Entry]:
        if space == DRAM:
            e = self._dram.get((lo, hi))
            if e is None:
                e = self._dram[(lo, hi)] = _Entry(lo, hi)
            return [e]
        return [e for e in self._sram[space] if e.lo < hi and lo < e.hi]

    def _hazards(self, queue: Queue, reads, writes) -> dict[Queue, int]:
        """Newest instruction per other queue that the new instruction must wait for."""
        need: dict[Queue, int] = {}

        def add(idx: int | None) -> None:
            if idx is None:
                return
            q = self._queues[idx]
            if q != queue and idx > need.get(q, -1):
                need[q] = idx

        for space, lo, hi in reads:
            for e in self._entries(space, lo, hi):
                add(e.writer)
        for space, lo, hi in writes:
            for e in self._entries(space, lo, hi):
                add(e.writer)
                for r in e.readers.values():
                    add(r)
        return need

    def _record(self, index: int, queue: Queue, reads, writes) -> None:
        for space, lo, hi in reads:
            # A reader is remembered on an entry of exactly its own range: putting it on every
            # overlapping (possibly much wider, older) entry would make later writes to
            # neighbouring rows wait for it too.
            if space == DRAM:
                entry = self._entries(space, lo, hi)[0]
            else:
                entry = next((e for e in self._sram[space] if e.lo == lo and e.hi == hi), None)
                if entry is None:
                    entry = _Entry(lo, hi, writer=None)
                    self._sram[space].append(entry)
            entry.readers[queue] = index
        for space, lo, hi in writes:
            if space == DRAM:
                self._dram[(lo, hi)] = _Entry(lo, hi, writer=index)
                continue
            # A write that covers an entry supersedes it: later accesses that wait for this write
            # are ordered after everything the write itself waited for.
            kept = [e for e in self._sram[space] if not (lo <= e.lo and e.hi <= hi)]
            kept.append(_Entry(lo, hi, writer=index))
            self._sram[space] = kept

    def _token(self, pq: Queue, producer: int, cq: Queue, consumer: int) -> str | None:
        """Make ``consumer`` (about to be appended) wait for ``producer``; returns its pop flag."""
        key = (pq, cq)
        if producer <= self._waited[key]:
            return None  # an earlier pop of this queue already waited for a newer producer
        push, pop = _FLAG[key]
        self._fields[producer][push] = 1
        self._waited[key] = producer
        self._popper[key] = consumer
        return pop

    def _relay(self, pq: Queue, producer: int) -> int:
        """A compute-queue instruction that completes after ``producer`` (a NOP if needed)."""
        key = (pq, Queue.COMPUTE)
        if producer <= self._waited[key]:
            return self._popper[key]
        index = len(self._ops)
        pop = self._token(pq, producer, Queue.COMPUTE, index)
        self._append(Opcode.NOP, Queue.COMPUTE, {pop: 1})
        return index

    def finish(self) -> list[Instruction]:
        self.end_layer()
        return [Instruction(op, **f) for op, f in zip(self._ops, self._fields, strict=True)]
