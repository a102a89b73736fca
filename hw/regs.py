"""Control and status registers: one table, and a builder that makes the AXI4-Lite slave.

``REGISTERS`` is the only description of the register map: the RTL block, the host driver
(hw/rtlsim) and the table in docs/rtl.md (``register_map_markdown``) are all generated from it.
Access kinds: ``rw`` (host writes, hardware reads), ``ro`` (hardware drives, host reads) and
``w1p`` (a write produces a one-cycle pulse of the written bits; reads return 0).
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Cat, Const, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .axi import axil_signature

ACCESS = ("rw", "ro", "w1p")


@dataclass(frozen=True)
class Register:
    name: str
    offset: int
    access: str
    width: int
    doc: str

    def __post_init__(self):
        if self.access not in ACCESS:
            raise ValueError(f"register {self.name}: access {self.access!r} not in {ACCESS}")
        if not 1 <= self.width <= 32:
            raise ValueError(f"register {self.name}: width {self.width} outside [1, 32]")
        if self.offset % 4:
            raise ValueError(f"register {self.name}: offset {self.offset:#x} is not word aligned")


#: The register map of the Encore control port (32-bit registers, byte offsets).
REGISTERS = (
    Register("ctrl", 0x00, "w1p", 2,
             "bit 0 START: run the program (ignored while busy); "
             "bit 1 IRQ_CLEAR: drop the interrupt"),
    Register("status", 0x04, "ro", 2,
             "bit 0 BUSY, bit 1 DONE (set when a run ends, cleared by START)"),
    Register("prog_addr", 0x08, "rw", 32, "DRAM byte address of instruction 0 (16-byte aligned)"),
    Register("prog_len", 0x0C, "rw", 32, "number of instructions to run"),
    Register("dram_size", 0x10, "rw", 32,
             "bytes of DRAM the program may LOAD/STORE: [0, dram_size), else DRAM_RANGE"),
    Register("error", 0x14, "ro", 4, "isa.ErrorCode of the last run (0 NONE)"),
    Register("error_index", 0x18, "ro", 32,
             "index of the failing instruction (valid if error != 0)"),
    Register("cycles", 0x1C, "ro", 32,
             "cycles from START to DONE of the last run (live while busy)"),
    Register("load_busy", 0x20, "ro", 32, "cycles the load unit (LOAD DMA) was executing"),
    Register("compute_busy", 0x24, "ro", 32,
             "cycles the compute unit was executing a GEMM or REQUANT"),
    Register("store_busy", 0x28, "ro", 32, "cycles the store unit (STORE DMA) was executing"),
    Register("retired", 0x2C, "ro", 32, "instructions completed in the last run"),
    Register("hw_config", 0x30, "ro", 32,
             "bits 7:0 log2(DIM), bits 15:8 log2(AXI data bytes): which build this is"),
)

OFFSETS = {r.name: r.offset for r in REGISTERS}


def register_map_markdown(registers=REGISTERS) -> str:
    """The register map as a markdown table (docs/rtl.md embeds this text verbatim)."""
    lines = ["| offset | name | access | bits | meaning |", "|---|---|---|---|---|"]
    for r in registers:
        lines.append(f"| {r.offset:#04x} | `{r.name}` | {r.access} | {r.width} | {r.doc} |")
    return "\n".join(lines) + "\n"


class RegisterBlock(wiring.Component):
    """AXI4-Lite slave over ``registers``.

    Members: ``bus`` (AXI4-Lite, slave side) and one port per register, named after it:
    ``rw`` and ``w1p`` registers are outputs to the design, ``ro`` registers inputs from it.
    One transaction at a time per direction; every response is OKAY (unmapped reads return 0).
    """

    def __init__(self, registers=REGISTERS, *, addr_width: int = 8):
        names = [r.name for r in registers]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate register names in {names}")
        offsets = [r.offset for r in registers]
        if len(set(offsets)) != len(offsets):
            raise ValueError(f"duplicate register offsets in {[hex(o) for o in offsets]}")
        if max(offsets) >= 1 << addr_width:
            raise ValueError(f"offset {max(offsets):#x} does not fit {addr_width} address bits")
        self._registers = tuple(registers)
        members = {"bus": In(axil_signature(addr_width=addr_width))}
        for r in registers:
            members[r.name] = (In if r.access == "ro" else Out)(r.width)
        super().__init__(members)

    @property
    def registers(self):
        return self._registers

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        word = bus.awaddr[2:]

        # Writes: accept address and data together (AXI4-Lite allows the slave to wait for both).
        for r in self._registers:
            if r.access == "w1p":
                m.d.sync += getattr(self, r.name).eq(0)
        with m.If(bus.bvalid & bus.bready):
            m.d.sync += bus.bvalid.eq(0)
        with m.If(bus.awvalid & bus.wvalid & ~bus.bvalid):
            m.d.comb += [bus.awready.eq(1), bus.wready.eq(1)]
            m.d.sync += bus.bvalid.eq(1)
            for r in self._registers:
                if r.access == "ro":
                    continue
                port = getattr(self, r.name)
                with m.If(word == r.offset // 4):
                    if r.access == "w1p":
                        m.d.sync += port.eq(bus.wdata[: r.width])
                    else:
                        # Byte strobes: keep the bytes the master did not enable.
                        mask = Cat(*[bus.wstrb[b // 8] for b in range(r.width)])
                        m.d.sync += port.eq((port & ~mask) | (bus.wdata[: r.width] & mask))

        # Reads: one cycle from AR to R.
        with m.If(bus.rvalid & bus.rready):
            m.d.sync += bus.rvalid.eq(0)
        with m.If(bus.arvalid & ~bus.rvalid):
            m.d.comb += bus.arready.eq(1)
            m.d.sync += [bus.rvalid.eq(1), bus.rdata.eq(0)]
            with m.Switch(bus.araddr[2:]):
                for r in self._registers:
                    with m.Case(r.offset // 4):
                        value = Const(0, r.width) if r.access == "w1p" else getattr(self, r.name)
                        m.d.sync += bus.rdata.eq(value)
        m.d.comb += [bus.bresp.eq(0), bus.rresp.eq(0)]
        return m
