"""Payload layouts of the internal AXI channel streams (``lib.stream``) and their geometry.

Blocks inside the design exchange AXI requests and beats as streams of these layouts; only
hw/axi_port.py turns them into the flat AXI4 signals of the top level. IDs are not part of the
payloads: the port assigns one per requester.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from isa.params import DRAM_ADDR_BITS

from .axi import BOUNDARY_4K

#: AR / AW request: byte address (bus aligned) and AXI length (beats - 1).
ADDR_LAYOUT = data.StructLayout({"addr": DRAM_ADDR_BITS, "len": 8})


def write_layout(bus_bytes: int) -> data.StructLayout:
    """W beat: data, byte strobes and the burst's last beat."""
    return data.StructLayout({"data": 8 * bus_bytes, "strb": bus_bytes, "last": 1})


def log2_exact(value: int, what: str) -> int:
    if value < 1 or value & (value - 1):
        raise ValueError(f"{what}={value} must be a power of two")
    return value.bit_length() - 1


def max_beats(row_bytes: int, bus_bytes: int) -> int:
    """Most bus beats a row of ``row_bytes`` can span at any byte alignment."""
    return -(-(bus_bytes - 1 + row_bytes) // bus_bytes)


class RowGeometry(wiring.Component):
    """How one DRAM row of a 2-D DMA maps onto bus beats and bursts (combinational).

    Inputs: ``addr`` (byte address of the row) and ``nbytes`` (its length). Outputs:
    ``beat_addr`` (addr rounded down to the bus width), ``offset`` (addr within the beat),
    ``nbeats`` (beats the row spans), and ``first_beats``: beats of the first burst, which
    is shorter than ``nbeats`` only when the row crosses a 4 KiB boundary (AXI4 forbids a
    burst to cross one); then a second burst of ``nbeats - first_beats`` beats follows at
    ``beat_addr + first_beats * bus_bytes``. A row of at most 512 + bus bytes spans at most
    one boundary, so two bursts always suffice.
    """

    def __init__(self, *, bus_bytes: int, max_row_bytes: int):
        self._lw = log2_exact(bus_bytes, "bus_bytes")
        if bus_bytes > BOUNDARY_4K or max_row_bytes > BOUNDARY_4K - bus_bytes:
            raise ValueError(f"rows of {max_row_bytes} bytes on a {bus_bytes}-byte bus could cross "
                             "two 4 KiB boundaries")
        self._bus_bytes = bus_bytes
        mb = max_beats(max_row_bytes, bus_bytes)
        super().__init__({
            "addr": In(DRAM_ADDR_BITS), "nbytes": In(range(max_row_bytes + 1)),
            "beat_addr": Out(DRAM_ADDR_BITS), "offset": Out(range(bus_bytes)),
            "nbeats": Out(range(mb + 1)), "first_beats": Out(range(mb + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        w, lw = self._bus_bytes, self._lw
        m.d.comb += [
            self.beat_addr.eq(self.addr & ~(w - 1)),
            self.offset.eq(self.addr[:lw] if lw else 0),
            self.nbeats.eq((self.offset + self.nbytes + (w - 1)) >> lw),
        ]
        to_boundary = Signal(unsigned(13))  # beats left before the next 4 KiB boundary
        m.d.comb += to_boundary.eq((BOUNDARY_4K - self.beat_addr[:12]) >> lw)
        m.d.comb += self.first_beats.eq(Mux(self.nbeats > to_boundary, to_boundary, self.nbeats))
        return m
