"""Instruction fetch: reads 128-bit instruction words from DRAM ahead of the dispatcher.

One burst per instruction (``max(1, 16 / bus bytes)`` beats at ``prog_addr + 16*i``); up to
``DEPTH`` instructions are requested or buffered at once, so the DRAM latency overlaps with
execution once the buffer has filled. Requests stop at ``prog_len`` or when ``stop`` rises (an
error); ``idle`` says no read is outstanding, which the controller waits for before it reports
done, so no AXI transaction is ever abandoned.

Between the R channel and the buffer, each word goes through ``FETCH_CHECK_STAGES`` register
stages that make its word checks (hw/checks.py :func:`pipelined_checks`: the word and the
operands of the checks' products, the products, every condition, against ``dram_size`` as
sampled at ``start``; the priority of the conditions on the way into the buffer): the
buffer holds the word with its check results (``FETCHED_LAYOUT``), so the dispatcher only adds
the program-order part, and the long arithmetic of the checks (``(rows - 1) * dram_stride``,
the engines' range sums) has a cycle of its own instead of sitting in the dispatch decision.
A word is counted in flight until it enters the buffer, so the stages change no request.

A word any of whose beats came with an error response (RRESP SLVERR or DECERR) is buffered
with ``bus_error`` set; the dispatcher stops on it with ErrorCode.BUS_ERROR at its index.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, ResetInserter, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from isa import INSTR_BITS, INSTR_BYTES, ErrorCode, MachineConfig, Queue
from isa.cycles import FETCH_CHECK_STAGES, FETCH_DEPTH

from .checks import CHANNELS, pipelined_checks
from .streams import ADDR_LAYOUT, log2_exact

#: A buffered instruction: the word, its bus error, and its word checks (hw/checks.py).
FETCHED_LAYOUT = data.StructLayout({
    "word": INSTR_BITS, "bus_error": 1, "pre_error": ErrorCode, "post_error": ErrorCode,
    "queue": 2,
    # Precomputed for the dispatch decision (hw/checks.py dispatch_flags): the word fails a
    # word check or had a bus error; its target queue one-hot; the channels it pushes / pops.
    "fails": 1, "onehot": len(Queue), "pushes": len(CHANNELS), "pops": len(CHANNELS),
    "hold": 1})
#: The register stages in front of the buffer (hw/checks.py pipelined_checks).
_STAGES = 3
assert _STAGES == FETCH_CHECK_STAGES, "isa.cycles.FETCH_CHECK_STAGES is this pipeline's depth"


class FetchUnit(wiring.Component):
    DEPTH = FETCH_DEPTH

    def __init__(self, *, bus_bytes: int, cfg: MachineConfig):
        self._lw = log2_exact(bus_bytes, "dram_bytes_per_cycle")
        self._bus_bytes = bus_bytes
        self._cfg = cfg
        super().__init__({
            "start": In(1), "stop": In(1), "prog_addr": In(32), "prog_len": In(32),
            "dram_size": In(32),
            "ar": Out(stream.Signature(ADDR_LAYOUT)), "r": In(stream.Signature(8 * bus_bytes)),
            "instr": Out(stream.Signature(FETCHED_LAYOUT)), "idle": Out(1),
            "rresp": In(2),
        })

    def elaborate(self, platform):
        m = Module()
        w, lw = self._bus_bytes, self._lw
        beats = max(1, INSTR_BYTES // w)
        # A new run starts with an empty buffer (words left over from an aborted run are dropped).
        m.submodules.buf = buf = ResetInserter(self.start)(
            fifo.SyncFIFOBuffered(width=FETCHED_LAYOUT.size, depth=self.DEPTH))
        issued = Signal(32)
        received = Signal(32)
        in_flight = Signal(range(self.DEPTH + 1))
        running = Signal()
        base = Signal(32)
        length = Signal(32)

        req_addr = base + (issued << 4)
        m.d.comb += [
            self.ar.valid.eq(running & ~self.stop & (issued != length)
                             & (in_flight + buf.level < self.DEPTH)),
            self.ar.payload.addr.eq(req_addr & ~(w - 1)),
            self.ar.payload.len.eq(beats - 1),
        ]
        ar_fire = self.ar.valid & self.ar.ready

        # Data: collect `beats` beats (narrow bus) or pick the word out of one beat (wide bus).
        beat = Signal(range(beats + 1))
        partial = Signal(max(0, INSTR_BITS - 8 * w) or 1)
        m.d.comb += self.r.ready.eq(1)
        word_done = self.r.valid & (beat == beats - 1)
        if w >= INSTR_BYTES:
            offset = (base + (received << 4))[4:lw] if lw > 4 else 0
            word = (self.r.payload >> (offset * INSTR_BITS if lw > 4 else 0))[:INSTR_BITS]
        else:
            word = Cat(partial[: INSTR_BITS - 8 * w], self.r.payload)
            with m.If(self.r.valid):
                m.d.sync += [partial.eq(word[8 * w:]), beat.eq(beat + 1)]
        with m.If(word_done):
            m.d.sync += [beat.eq(0), received.eq(received + 1)]
        # Sticky over the beats of one word; the word carries it (`bus_error`).
        resp_err = Signal()
        beat_err = self.r.valid & (self.rresp != 0)
        with m.If(self.r.valid):
            m.d.sync += resp_err.eq(Mux(word_done, 0, resp_err | beat_err))

        # The check stages (empty at START: a run ends only once `idle`): hw/checks.py
        # pipelined_checks; the buffer takes the last stage's word and check results.
        dram_size = Signal(32)
        valid = [Signal(name=f"check_valid{i}") for i in range(1, _STAGES + 1)]
        err = [Signal(name=f"check_bus_error{i}") for i in range(1, _STAGES + 1)]
        m.d.sync += [valid[0].eq(word_done), err[0].eq(resp_err | beat_err)]
        m.d.sync += [v.eq(u) for u, v in zip(valid, valid[1:], strict=False)]
        m.d.sync += [f.eq(e) for e, f in zip(err, err[1:], strict=False)]
        last_word, checks = pipelined_checks(m, self._cfg, word, dram_size, stages=_STAGES)
        entry = Signal(FETCHED_LAYOUT)
        m.d.comb += [entry.word.eq(last_word), entry.bus_error.eq(err[-1]),
                     entry.pre_error.eq(checks["pre_error"]), entry.queue.eq(checks["queue"]),
                     entry.post_error.eq(checks["post_error"]),
                     entry.fails.eq(checks["fails"] | err[-1])]
        m.d.comb += [getattr(entry, k).eq(checks[k])
                     for k in ("onehot", "pushes", "pops", "hold")]
        last_valid = valid[-1]
        m.d.comb += [buf.w_en.eq(last_valid), buf.w_data.eq(entry)]
        m.d.sync += in_flight.eq(in_flight + ar_fire - last_valid)
        with m.If(ar_fire):
            m.d.sync += issued.eq(issued + 1)

        m.d.comb += [
            self.instr.valid.eq(buf.r_rdy), self.instr.payload.eq(buf.r_data),
            buf.r_en.eq(self.instr.ready), self.idle.eq(in_flight == 0),
        ]
        with m.If(self.start):
            m.d.sync += [running.eq(1), issued.eq(0), received.eq(0), beat.eq(0), resp_err.eq(0),
                         base.eq(self.prog_addr), length.eq(self.prog_len),
                         dram_size.eq(self.dram_size)]
        return m
