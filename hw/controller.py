"""Controller: dispatch in program order, three decoupled queues, dependency tokens, status.

The dispatcher takes fetched words in program order with their word checks (made in the fetch
buffer's check stages, hw/fetch.py and hw/checks.py), adds the one check that depends on program
order (a pop with no token pushed earlier: ``checks.dispatch_error``) and pushes each word into
the load, compute or store queue (SyncFIFOs of ``queue_depth`` words). Each queue's
runner pops its next instruction once the tokens it pops are available, starts its engine,
and pushes its tokens when the engine reports done (all its writes visible), as in TVM's VTA.

Each queue talks to its engine(s) over one ``unit[q]`` port (``UNIT_SIGNATURE``: start, the
instruction word, busy, done, checked, error; hw/engine.py). Instructions with checks on data
(``HOLD_OPCODES``, derived from the compute-engine registration in hw/compute.py): after
dispatching one, the dispatcher holds the next instruction until the engine raises ``checked``;
if the engine reports an error (``error`` with ``done``), that is the run's error, at that
instruction's index, and it neither pushes tokens nor counts as retired.

On an error the dispatcher stops, the instructions already dispatched run to completion
(program order guarantees their tokens come), outstanding fetches return, and only then is
``done`` raised: DRAM holds exactly the state after the instructions before the failing one,
as in the functional simulator.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, ResetInserter, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from isa import INSTR_BITS, ErrorCode, MachineConfig, Opcode, Queue
from isa.cycles import QUEUE_CHAIN

from .checks import CHANNELS, dispatch_error
from .fetch import FETCHED_LAYOUT
from .isa_layout import header_layout

#: What a queue's runner drives towards its engine (flip it for the engine side).
UNIT_SIGNATURE = wiring.Signature({
    "start": Out(1), "instr": Out(INSTR_BITS),
    "done": In(1), "busy": In(1), "checked": In(1), "error": In(ErrorCode),
})


class _TokenCounter:
    """A counter with one producer and one consumer (either may act in the same cycle)."""

    def __init__(self, m, name):
        self.count = Signal(32, name=f"tok_{name}")
        self.inc = Signal(name=f"tok_{name}_inc")
        self.dec = Signal(name=f"tok_{name}_dec")
        m.d.sync += self.count.eq(self.count + self.inc - self.dec)


class Controller(wiring.Component):
    """Members: program/status registers, the fetched instruction stream, and ``unit[q]``
    (UNIT_SIGNATURE) per queue ``q`` (isa.Queue order)."""

    def __init__(self, cfg: MachineConfig):
        self._cfg = cfg
        super().__init__({
            "start": In(1), "instr": In(stream.Signature(FETCHED_LAYOUT)),
            "fetch_idle": In(1), "fetch_stop": Out(1), "prog_len": In(32),
            "busy": Out(1), "done": Out(1), "launch": Out(1),
            "error": Out(ErrorCode), "error_index": Out(32), "retired": Out(32),
            "unit": Out(UNIT_SIGNATURE).array(len(Queue)),
            # [bus errors] AXI error responses of the DMA engines (a fetched word's comes with it).
            "load_bus_error": In(1), "store_bus_error": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        fetched = self.instr.payload  # the word and its word checks (hw/fetch.py)
        word = fetched.word
        # START is ignored while a run is in progress; `launch` is the accepted one.
        m.d.comb += self.launch.eq(self.start & ~self.busy)
        queues = {}
        for q in Queue:
            queues[q] = ResetInserter(self.launch)(
                fifo.SyncFIFOBuffered(width=INSTR_BITS, depth=cfg.queue_depth))
            m.submodules[f"queue_{q.name.lower()}"] = queues[q]

        # -- dispatch -------------------------------------------------------------------------
        index = Signal(32)
        dispatching = Signal()
        length = Signal(32)
        # Program-order token counts (pushes dispatched minus pops dispatched) for the
        # DEPENDENCY check; the run-time counters below are the ones units wait on.
        prev_of = {q: p for q, (p, _) in QUEUE_CHAIN.items() if p is not None}
        next_of = {q: n for q, (_, n) in QUEUE_CHAIN.items() if n is not None}
        channels = [(q, n) for q, n in next_of.items()] + [(q, p) for q, p in prev_of.items()]
        order = {pair: Signal(32, name=f"order_{pair[0].name}_{pair[1].name}".lower())
                 for pair in channels}
        # ``order[pair] != 0`` kept as a flag (a count changes by at most one per dispatch).
        order_nz = {pair: Signal(name=f"order_{pair[0].name}_{pair[1].name}_nz".lower())
                    for pair in channels}
        # The word's flags come precomputed from the fetch unit (hw/checks.py dispatch_flags).
        assert list(order) == list(CHANNELS)
        underflow = Signal()
        for i, pair in enumerate(CHANNELS):
            with m.If(fetched.pops[i] & ~order_nz[pair]):
                m.d.comb += underflow.eq(1)
        check_error = Signal(ErrorCode)
        m.d.comb += check_error.eq(dispatch_error(fetched.pre_error, fetched.post_error,
                                                  underflow))

        target_ready = Signal()
        for q in Queue:
            with m.If(fetched.onehot[q] & queues[q].w_rdy):
                m.d.comb += target_ready.eq(1)
        # Held after a RUNTIME_CHECKED instruction until its unit has made its data checks.
        hold = Signal()
        hold_index = Signal(32)
        # ``index == length`` kept as a flag (no 32-bit compare in the dispatch decision).
        at_end = Signal()
        take = dispatching & self.instr.valid & ~at_end & ~hold
        with m.If(take & (fetched.fails | underflow)):
            m.d.sync += [self.error.eq(Mux(fetched.bus_error, ErrorCode.BUS_ERROR, check_error)),
                         self.error_index.eq(index), dispatching.eq(0)]
        with m.Elif(take & target_ready):
            m.d.comb += self.instr.ready.eq(1)
            m.d.sync += [index.eq(index + 1), at_end.eq(index + 1 == length)]
            with m.If(fetched.hold):
                m.d.sync += [hold.eq(1), hold_index.eq(index)]
            for q in Queue:
                m.d.comb += [queues[q].w_data.eq(word), queues[q].w_en.eq(fetched.onehot[q])]
            for i, ((src, dst), cnt) in enumerate(order.items()):
                # Same instruction may push to one neighbour and pop from another.
                pushed, popped = fetched.pushes[i], fetched.pops[i]
                m.d.sync += cnt.eq(cnt + pushed - popped)
                with m.If(pushed):  # one instruction: a push or a pop on a channel, not both
                    m.d.sync += order_nz[(src, dst)].eq(1)
                with m.Elif(popped):
                    m.d.sync += order_nz[(src, dst)].eq(cnt != 1)
        with m.If(dispatching & at_end):
            m.d.sync += dispatching.eq(0)
        compute = self.unit[Queue.COMPUTE]
        with m.If(compute.checked):
            m.d.sync += hold.eq(0)
        run_fail = compute.done & (compute.error != ErrorCode.NONE)
        with m.If(run_fail):
            m.d.sync += [self.error.eq(compute.error), self.error_index.eq(hold_index),
                         dispatching.eq(0)]
        m.d.comb += self.fetch_stop.eq(~dispatching)

        # -- [bus errors] program index of every queued / running LOAD and STORE --------------
        index_fifo = {}
        bus_error = {Queue.LOAD: self.load_bus_error, Queue.STORE: self.store_bus_error}
        for q in (Queue.LOAD, Queue.STORE):
            index_fifo[q] = f = ResetInserter(self.launch)(
                fifo.SyncFIFOBuffered(width=32, depth=cfg.queue_depth))
            m.submodules[f"index_{q.name.lower()}"] = f
            m.d.comb += [f.w_data.eq(index), f.w_en.eq(self.instr.ready & fetched.onehot[q])]
        bus_fail = []

        # -- queue runners --------------------------------------------------------------------
        tok = {pair: _TokenCounter(m, f"{pair[0].name}_{pair[1].name}".lower()) for pair in order}
        retire = []
        idle_all = []
        for q in Queue:
            fifo_q, port, unit = queues[q], self.unit[q], q.name.lower()
            cur = Signal(INSTR_BITS, name=f"{unit}_cur")
            running = Signal(name=f"{unit}_running")
            cur_hdr = data.View(header_layout(), cur)
            head = data.View(header_layout(), fifo_q.r_data)
            ready = fifo_q.r_rdy & ~running
            if q in prev_of:
                ready &= ~head.pop_prev | (tok[(prev_of[q], q)].count != 0)
            if q in next_of:
                ready &= ~head.pop_next | (tok[(next_of[q], q)].count != 0)
            is_nop = head.opcode == Opcode.NOP
            m.d.comb += [fifo_q.r_en.eq(ready), port.instr.eq(fifo_q.r_data),
                         port.start.eq(ready & ~is_nop)]
            with m.If(ready):
                m.d.sync += [cur.eq(fifo_q.r_data), running.eq(1)]
                if q in prev_of:
                    m.d.comb += tok[(prev_of[q], q)].dec.eq(head.pop_prev)
                if q in next_of:
                    m.d.comb += tok[(next_of[q], q)].dec.eq(head.pop_next)
            finished = running & (port.done | (cur_hdr.opcode == Opcode.NOP))
            if q == Queue.COMPUTE:  # a unit that failed its data checks had no effect
                finished = finished & ~run_fail
                with m.If(running & run_fail):
                    m.d.sync += running.eq(0)
            with m.If(finished):
                m.d.sync += running.eq(0)
                if q in prev_of:
                    m.d.comb += tok[(q, prev_of[q])].inc.eq(cur_hdr.push_prev)
                if q in next_of:
                    m.d.comb += tok[(q, next_of[q])].inc.eq(cur_hdr.push_next)
            retire.append(finished)
            if q in index_fifo:  # [bus errors] the index travels with the instruction
                cur_index = Signal(32, name=f"{unit}_cur_index")
                m.d.comb += index_fifo[q].r_en.eq(ready)
                with m.If(ready):
                    m.d.sync += cur_index.eq(index_fifo[q].r_data)
                bus_fail.append((finished & bus_error[q], cur_index))
            idle_all.append(~running & ~fifo_q.r_rdy)
        m.d.sync += self.retired.eq(self.retired + sum(retire))

        # -- [bus errors] a DMA instruction that got an error response stops the run at its
        # index (it has finished: its tokens are pushed, so everything dispatched drains) ----
        # (The index compares are made on the registers, in parallel with `finished`.)
        (load_fail, load_idx), (store_fail, store_idx) = bus_fail
        first_is_load = load_fail & (~store_fail | (load_idx < store_idx))
        fail_idx = Mux(first_is_load, load_idx, store_idx)
        fail_first = Mux(first_is_load, load_idx < self.error_index,
                         store_idx < self.error_index)
        with m.If((load_fail | store_fail)
                  & ((self.error == ErrorCode.NONE) | fail_first)):
            m.d.sync += [self.error.eq(ErrorCode.BUS_ERROR), self.error_index.eq(fail_idx),
                         dispatching.eq(0)]

        # -- run state --------------------------------------------------------------------------
        quiet = ~dispatching & self.fetch_idle
        for idle in idle_all:
            quiet = quiet & idle
        with m.If(self.busy & quiet):
            m.d.sync += [self.busy.eq(0), self.done.eq(1)]
        with m.If(self.launch):
            m.d.sync += [self.busy.eq(1), self.done.eq(0), dispatching.eq(1), index.eq(0),
                         length.eq(self.prog_len), at_end.eq(self.prog_len == 0),
                         self.error.eq(ErrorCode.NONE), hold.eq(0),
                         self.error_index.eq(0), self.retired.eq(0)]
            m.d.sync += [cnt.eq(0) for cnt in order.values()]
            m.d.sync += [nz.eq(0) for nz in order_nz.values()]
            m.d.sync += [t.count.eq(0) for t in tok.values()]
        return m
