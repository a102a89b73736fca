"""Instruction fetch: reads 128-bit instruction words from DRAM ahead of the dispatcher.

One burst per instruction (``max(1, 16 / bus bytes)`` beats at ``prog_addr + 16*i``); up to
``DEPTH`` instructions are requested or buffered at once, so the DRAM latency overlaps with
execution once the buffer has filled. Requests stop at ``prog_len`` or when ``stop`` rises (an
error); ``idle`` says no read is outstanding, which the controller waits for before it reports
done, so no AXI transaction is ever abandoned.

A word any of whose beats came with an error response (RRESP SLVERR or DECERR) is buffered
with ``instr_bus_error`` set; the dispatcher stops on it with ErrorCode.BUS_ERROR at its index.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, ResetInserter, Signal
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from isa import INSTR_BITS, INSTR_BYTES
from isa.cycles import FETCH_DEPTH

from .streams import ADDR_LAYOUT, log2_exact


class FetchUnit(wiring.Component):
    DEPTH = FETCH_DEPTH

    def __init__(self, *, bus_bytes: int):
        self._lw = log2_exact(bus_bytes, "dram_bytes_per_cycle")
        self._bus_bytes = bus_bytes
        super().__init__({
            "start": In(1), "stop": In(1), "prog_addr": In(32), "prog_len": In(32),
            "ar": Out(stream.Signature(ADDR_LAYOUT)), "r": In(stream.Signature(8 * bus_bytes)),
            "instr": Out(stream.Signature(INSTR_BITS)), "idle": Out(1),
            "rresp": In(2), "instr_bus_error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        w, lw = self._bus_bytes, self._lw
        beats = max(1, INSTR_BYTES // w)
        # A new run starts with an empty buffer (words left over from an aborted run are dropped).
        m.submodules.buf = buf = ResetInserter(self.start)(
            fifo.SyncFIFOBuffered(width=INSTR_BITS + 1, depth=self.DEPTH))
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
        # Sticky over the beats of one word; the word carries it as its top bit.
        resp_err = Signal()
        beat_err = self.r.valid & (self.rresp != 0)
        with m.If(self.r.valid):
            m.d.sync += resp_err.eq(Mux(word_done, 0, resp_err | beat_err))
        m.d.comb += [buf.w_en.eq(word_done), buf.w_data.eq(Cat(word, resp_err | beat_err))]
        m.d.sync += in_flight.eq(in_flight + ar_fire - word_done)
        with m.If(ar_fire):
            m.d.sync += issued.eq(issued + 1)

        m.d.comb += [
            self.instr.valid.eq(buf.r_rdy), self.instr.payload.eq(buf.r_data[:INSTR_BITS]),
            self.instr_bus_error.eq(buf.r_data[INSTR_BITS]),
            buf.r_en.eq(self.instr.ready), self.idle.eq(in_flight == 0),
        ]
        with m.If(self.start):
            m.d.sync += [running.eq(1), issued.eq(0), received.eq(0), beat.eq(0), resp_err.eq(0),
                         base.eq(self.prog_addr), length.eq(self.prog_len)]
        return m
