"""The one AXI4 master of the design: read arbitration between instruction fetch and the load
DMA (AXI IDs 0 and 1), write channels from the store DMA.

Reads: the load DMA has priority on the AR channel (a fetch request waits while the DMA has one
pending), and a grant is held until the handshake (AXI forbids changing a valid request); R
beats are routed by RID. With the fixed priority a LOAD's requests go out back to back, so its
timing does not depend on instruction fetch, and a fetch issued during a LOAD's requests waits
for them (and, the slave answering in request order, for their beats): the timing model
(sim/timing/schedule.py) computes both exactly. Writes use ID 0 and INCR bursts of the full
bus width.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from isa.params import DRAM_ADDR_BITS

from .axi import BURST_INCR, axi4_signature
from .streams import ADDR_LAYOUT, log2_exact, write_layout

ID_FETCH, ID_LOAD = 0, 1


class AxiPort(wiring.Component):
    def __init__(self, *, bus_bytes: int):
        self._lw = log2_exact(bus_bytes, "dram_bytes_per_cycle")
        beat = 8 * bus_bytes
        super().__init__({
            "dram": Out(axi4_signature(addr_width=DRAM_ADDR_BITS, data_width=beat, id_width=1)),
            "fetch_ar": In(stream.Signature(ADDR_LAYOUT)), "fetch_r": Out(stream.Signature(beat)),
            "load_ar": In(stream.Signature(ADDR_LAYOUT)), "load_r": Out(stream.Signature(beat)),
            "aw": In(stream.Signature(ADDR_LAYOUT)),
            "w": In(stream.Signature(write_layout(bus_bytes))),
            "b": Out(stream.Signature(2)),
            # RRESP of the beat on fetch_r / load_r (valid with that stream's valid).
            "rresp": Out(2),
        })

    def elaborate(self, platform):
        m = Module()
        axi = self.dram
        locked = Signal()
        owner = Signal()
        fetch_wins = self.fetch_ar.valid & ~self.load_ar.valid
        free_pick = Mux(fetch_wins, ID_FETCH, ID_LOAD)
        sel = Signal()
        m.d.comb += sel.eq(Mux(locked, owner, free_pick))
        req = Mux(sel, self.load_ar.payload.as_value(), self.fetch_ar.payload.as_value())
        m.d.comb += [
            axi.arvalid.eq(Mux(sel, self.load_ar.valid, self.fetch_ar.valid)),
            axi.araddr.eq(req[:DRAM_ADDR_BITS]), axi.arlen.eq(req[DRAM_ADDR_BITS:]),
            axi.arsize.eq(self._lw), axi.arburst.eq(BURST_INCR), axi.arid.eq(sel),
            self.fetch_ar.ready.eq((sel == ID_FETCH) & axi.arready),
            self.load_ar.ready.eq((sel == ID_LOAD) & axi.arready),
        ]
        m.d.sync += [locked.eq(axi.arvalid & ~axi.arready), owner.eq(sel)]

        m.d.comb += [
            self.fetch_r.payload.eq(axi.rdata), self.load_r.payload.eq(axi.rdata),
            self.rresp.eq(axi.rresp),
            self.fetch_r.valid.eq(axi.rvalid & (axi.rid == ID_FETCH)),
            self.load_r.valid.eq(axi.rvalid & (axi.rid == ID_LOAD)),
            axi.rready.eq(Mux(axi.rid == ID_LOAD, self.load_r.ready, self.fetch_r.ready)),
            axi.awvalid.eq(self.aw.valid), self.aw.ready.eq(axi.awready),
            axi.awaddr.eq(self.aw.payload.addr), axi.awlen.eq(self.aw.payload.len),
            axi.awsize.eq(self._lw), axi.awburst.eq(BURST_INCR), axi.awid.eq(0),
            axi.wvalid.eq(self.w.valid), self.w.ready.eq(axi.wready),
            axi.wdata.eq(self.w.payload.data), axi.wstrb.eq(self.w.payload.strb),
            axi.wlast.eq(self.w.payload.last),
            self.b.valid.eq(axi.bvalid), self.b.payload.eq(axi.bresp), axi.bready.eq(self.b.ready),
        ]
        return m
