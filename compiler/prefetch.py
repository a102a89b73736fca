"""The next kernel's first LOADs issued ahead, across kernel boundaries (issue 15 item 2(d)).

Every kernel reads its inputs from DRAM, so kernel k+1's first GEMM waits for its A tile, which
waits for kernel k's last STORE. Its other first LOADs (weight tiles, epilogue parameters, an
older residual) depend on nothing kernel k does, but in program order they come after kernel k's
epilogue (REQUANT / GELU / RESADD / LAYERNORM, or the last ATTN), behind the dispatch hold of a
vector instruction and behind the A tile in the in-order load queue: the load queue idles
during kernel k's tail and then loads them while the array waits (docs/timing.md "Costly
patterns", "The layer-scope SRAM planner").

``Recorder`` collects a lowering's instructions per layer span with their declared accesses
(the Emitter's interface) before any token is derived; ``Recorder.replay`` moves, per pair of
adjacent spans (k, k+1), the LOADs of k+1 that come before its first compute instruction into
k's tail, the instructions after k's last LOAD (k's last GEMMs and its epilogue), where that
is valid sequentially:

* the LOAD's DRAM source is written by none of the instructions it moves ahead of (the A tile,
  which k's last STORE writes, stays; moved behind that STORE its token would come through a
  NOP on the compute queue and hold the rest of the tail), and
* its SRAM rows are accessed by none of them. A LOAD whose rows a compute instruction of the
  tail uses goes right after that instruction. A weight tile whose rows the tail uses (e.g.
  kernel k's output tile, live until its STORE) is moved to rows that no instruction of the
  window accesses, found by the liveness allocator (compiler/sram_plan.py: the window's
  accesses as reserved buffers with their live intervals), and the GEMMs that read it are
  rewritten to read it there.

Then the instructions are emitted in the new order into an Emitter, which derives the tokens from
the declared accesses as always, so the program is correct under every queue interleaving and
its results are bit-identical (a moved LOAD commutes with everything it passes).

What k+1's first compute instruction waits for anyway is moved unconditionally (it could not
start before those LOADs); a LOAD after that (the weight ring's next tile) is moved only while
the LOADs moved so far fit in the busy cycles of kernel k's tail on the compute queue, so that
it does not delay k+1's A tile. The tiler's cost model (compiler/tile_cost.py) still prices
each tiling alone, as if its first LOADs were issued at its start: the prefetch only moves
LOADs earlier, which the layer-alone estimate does not see (it is not a bound: moved LOADs
that wait in the load queue can fill it and stall the dispatcher). Only the choice of the
first output block in K pieces (``LinearPlan.first_pieces``) is priced with those LOADs gone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from isa import Instruction, MachineConfig, Opcode, Queue, queue_of

from .emitter import SP, Access, Emitter
from .sram_plan import PlanError, SramPlan
from .tile_cost import busy_cycles


@dataclass
class Call:
    """One recorded instruction: what ``Emitter.emit`` is called with."""

    op: Opcode
    reads: tuple[Access, ...]
    writes: tuple[Access, ...]
    fields: dict[str, int]

    def accesses(self) -> tuple[Access, ...]:
        return self.reads + self.writes


@dataclass
class Span:
    name: str | None  # None: instructions outside any layer span
    calls: list[Call] = field(default_factory=list)


@dataclass
class PrefetchStats:
    moved: int = 0  # LOADs moved ahead of the previous kernel's tail
    relocated: int = 0  # of which weight tiles moved to other rows
    boundaries: int = 0  # span boundaries with at least one LOAD moved


class Recorder:
    """Records ``emit`` / ``begin_layer`` calls (the Emitter's interface) per layer span."""

    def __init__(self) -> None:
        self.spans: list[Span] = [Span(None)]

    def begin_layer(self, name: str) -> None:
        self.spans.append(Span(name))

    def end_layer(self) -> None:
        self.spans.append(Span(None))

    def emit(self, op: Opcode, *, reads: tuple[Access, ...] = (),
             writes: tuple[Access, ...] = (), **fields: int) -> None:
        Instruction(op, **fields)  # validate field names and widths now, where the bug is
        self.spans[-1].calls.append(Call(op, tuple(reads), tuple(writes), dict(fields)))

    def __len__(self) -> int:
        return sum(len(s.calls) for s in self.spans)

    def replay(self, em: Emitter, cfg: MachineConfig, *, prefetch: bool = True) -> PrefetchStats:
        """Emit every recorded instruction into ``em`` (span by span), with the next kernel's
        first LOADs moved ahead where valid if ``prefetch``."""
        stats = PrefetchStats()
        spans = [s for s in self.spans if s.calls]
        if prefetch:
            for k in range(len(spans) - 1):
                if spans[k].name is not None and spans[k + 1].name is not None:
                    moved, relocated = hoist(spans[k].calls, spans[k + 1].calls, cfg)
                    stats.moved += moved
                    stats.relocated += relocated
                    stats.boundaries += moved > 0
        for s in spans:
            if s.name is None:
                em.end_layer()
            else:
                em.begin_layer(s.name)
            for c in s.calls:
                em.emit(c.op, reads=c.reads, writes=c.writes, **c.fields)
        em.end_layer()
        return stats


def _overlap(a: Access, b: Access) -> bool:
    return a[0] == b[0] and a[1] < b[2] and b[1] < a[2]


def _busy(c: Call, cfg: MachineConfig) -> int:
    return busy_cycles(Instruction(c.op, **c.fields), cfg)


def _dram_clash(c: Call, calls: list[Call]) -> bool:
    """LOAD ``c`` reads DRAM that one of ``calls`` writes."""
    return any(_overlap(r, w) for r in c.reads for x in calls for w in x.writes)


def _sram_clash(c: Call, calls: list[Call]) -> bool:
    """LOAD ``c`` writes SRAM rows that one of ``calls`` reads or writes."""
    return any(_overlap(w, a) for w in c.writes for x in calls for a in x.accesses())


def _last_clash(c: Call, tail: list[Call], floor: int) -> int:
    """The position just after the last call of ``tail[floor:]`` that uses the rows LOAD ``c``
    writes (or ``floor``)."""
    for t in range(len(tail) - 1, floor - 1, -1):
        if _sram_clash(c, [tail[t]]):
            return t + 1
    return floor


def hoist(cur: list[Call], nxt: list[Call], cfg: MachineConfig) -> tuple[int, int]:
    """Move the LOADs of ``nxt`` before its first compute instruction into ``cur``'s tail (after
    its last LOAD), each as early as valid (module docstring); both lists are changed in place.
    Returns (LOADs moved, of which relocated)."""
    loads = [i for i, c in enumerate(cur) if c.op == Opcode.LOAD]
    first = next((j for j, c in enumerate(nxt) if queue_of(c.op) == Queue.COMPUTE), None)
    if not loads or first is None:
        return 0, 0
    at = loads[-1] + 1
    tail = cur[at:]
    # the LOADs k+1's first compute instruction waits for anyway (through the in-order queue)
    needed = max((j for j in range(first) if nxt[j].op == Opcode.LOAD and any(
        _overlap(w, r) for w in nxt[j].writes for r in nxt[first].reads)), default=-1)
    budget = sum(_busy(c, cfg) for c in tail if queue_of(c.op) == Queue.COMPUTE)
    stay: list[Call] = []  # the calls of nxt's head that stay (a LOAD moved now passes them)
    placed: list[tuple[int, Call]] = []  # (position in tail, LOAD)
    spent = relocated = 0
    for j in range(first):
        c = nxt[j]
        cost = _busy(c, cfg)
        # a LOAD of what the tail stores (the A tile) stays: moved behind that STORE, its token
        # would come through a NOP on the compute queue, holding the rest of the tail
        if (c.op != Opcode.LOAD or (j > needed and spent + cost > budget)
                or _dram_clash(c, stay) or _dram_clash(c, tail)):
            stay.append(c)
            continue
        # not before the LOADs moved already that it does not commute with (same rows; at the
        # same position the original order is kept)
        pos = max([0] + [p for p, m in placed if _sram_clash(c, [m])])
        late = _last_clash(c, tail, pos)  # after what uses its rows
        if late > pos or _sram_clash(c, stay):
            passed = tail[pos:] + stay + [m for p, m in placed if p > pos]
            if _relocate(c, j, nxt, cur, passed, [m for _, m in placed], cfg):
                relocated += 1
            elif _sram_clash(c, stay):
                stay.append(c)
                continue
            elif any(x.op == Opcode.STORE and _sram_clash(c, [x]) for x in tail[pos:late]):
                pos = len(tail)  # waiting for a STORE mid-tail would hold the compute queue
            else:
                pos = late
        if pos == len(tail) and not stay:
            stay.append(c)  # it would stay where it is
            continue
        placed.append((pos, c))
        spent += cost
    if placed:
        ids = {id(c) for _, c in placed}
        nxt[:] = [c for c in nxt if id(c) not in ids]
        merged: list[Call] = []
        order = sorted(range(len(placed)), key=lambda i: (placed[i][0], i))
        q = 0
        for t in range(len(tail) + 1):
            while q < len(order) and placed[order[q]][0] == t:
                merged.append(placed[order[q]][1])
                q += 1
            if t < len(tail):
                merged.append(tail[t])
        cur[at:] = merged
    return len(placed), relocated


def _relocate(c: Call, j: int, nxt: list[Call], cur: list[Call], jumped: list[Call],
              moved: list[Call], cfg: MachineConfig) -> bool:
    """Give the weight tile that LOAD ``c`` (nxt[j]) writes rows that nothing it passes and
    nothing until its last reader accesses, rewriting its GEMMs; False if it is not a weight
    tile read only by GEMMs, or no such rows exist."""
    if len(c.writes) != 1 or c.writes[0][0] != SP or c.fields["sram_addr"] != c.writes[0][1]:
        return False
    tile = c.writes[0]
    readers, end = [], j
    for i in range(j + 1, len(nxt)):
        x = nxt[i]
        if any(_overlap(tile, w) for w in x.writes):
            break  # the slot's next tenant
        hits = [r for r in x.reads if _overlap(tile, r)]
        if not hits:
            continue
        if (x.op != Opcode.GEMM or len(hits) != 1 or x.fields["w_addr"] != hits[0][1]
                or not (tile[1] <= hits[0][1] and hits[0][2] <= tile[2])):
            return False  # only GEMMs reading their weights from the tile
        readers.append((x, hits[0]))
        end = i
    if not readers:
        return False
    base = _free_rows(tile[2] - tile[1], cur, jumped + nxt[j + 1:end + 1], moved, cfg)
    if base is None:
        return False
    new = (SP, base, base + tile[2] - tile[1])
    for x in nxt[end + 1:]:  # the first later access of the new rows must not be a read
        if any(_overlap(new, r) for r in x.reads):
            return False
        if any(_overlap(new, w) for w in x.writes):
            break
    c.writes = (new,)
    c.fields["sram_addr"] = base
    for x, hit in readers:
        moved_hit = (SP, base + hit[1] - tile[1], base + hit[2] - tile[1])
        x.reads = tuple(moved_hit if r == hit else r for r in x.reads)
        x.fields["w_addr"] = moved_hit[1]
    return True


def _free_rows(rows: int, cur: list[Call], window: list[Call], moved: list[Call],
               cfg: MachineConfig) -> int | None:
    """The base of ``rows`` scratchpad rows live from the move point (step 0) through the
    window, placed by the liveness allocator around every scratchpad range the window accesses
    (fixed, live at its steps) and the tiles moved already (live throughout). Rows the current
    kernel uses anywhere are avoided too if possible (so the LOAD waits for none of its older
    readers)."""
    n = len(window)
    live: dict[tuple[int, int], list[int]] = {}  # SP range -> [first step, last step]

    def use(lo: int, hi: int, first: int, last: int) -> None:
        iv = live.setdefault((lo, hi), [first, last])
        iv[0], iv[1] = min(iv[0], first), max(iv[1], last)

    for s, x in enumerate(window, start=1):
        for space, lo, hi in x.accesses():
            if space == SP:
                use(lo, hi, s, s)
    for x in moved:
        for space, lo, hi in x.writes:
            if space == SP:
                use(lo, hi, 0, n)
    mine = {(a[1], a[2]) for x in cur for a in x.accesses() if a[0] == SP}
    for avoid_cur in (True, False):
        plan = SramPlan(cfg.sp_rows, cfg.acc_rows)
        ranges = dict(live)
        if avoid_cur:
            ranges.update({r: [0, n] for r in mine})
        for i, ((lo, hi), (first, last)) in enumerate(ranges.items()):
            plan.reserve(f"r{i}", "sp", lo, hi - lo, first, last)
        plan.add("prefetch", "sp", rows, 0, n)
        try:
            return plan.allocate().base("prefetch")
        except PlanError:
            continue
    return None


__all__ = ["Call", "PrefetchStats", "Recorder", "hoist"]
