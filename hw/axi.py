"""AXI4 (full) master and AXI4-Lite slave signatures, with AMBA signal names.

The channels are flat members (``awvalid``, ``awaddr`` ...) rather than nested streams so that
the top-level Verilog ports carry the names every AXI tool and IP integrator expects
(``dram__arvalid`` ...). Inside the design, blocks talk over ``lib.stream`` interfaces.
"""

from __future__ import annotations

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from isa.cycles import BOUNDARY_4K  # noqa: F401 - AXI4 bursts may not cross it (re-exported)

BURST_INCR = 0b01
#: AXI4 INCR bursts are at most 256 beats long.
MAX_BURST_BEATS = 256


def axi4_signature(*, addr_width: int, data_width: int, id_width: int) -> wiring.Signature:
    """AXI4 master (outputs are the master's): five channels, INCR bursts, IDs, write strobes."""
    if data_width not in (8, 16, 32, 64, 128, 256, 512, 1024):
        raise ValueError(f"AXI4 data width {data_width} bits is not a power of two in [8, 1024]")
    return wiring.Signature({
        "awvalid": Out(1), "awready": In(1), "awaddr": Out(addr_width), "awlen": Out(8),
        "awsize": Out(3), "awburst": Out(2), "awid": Out(id_width),
        "wvalid": Out(1), "wready": In(1), "wdata": Out(data_width),
        "wstrb": Out(data_width // 8), "wlast": Out(1),
        "bvalid": In(1), "bready": Out(1), "bresp": In(2), "bid": In(id_width),
        "arvalid": Out(1), "arready": In(1), "araddr": Out(addr_width), "arlen": Out(8),
        "arsize": Out(3), "arburst": Out(2), "arid": Out(id_width),
        "rvalid": In(1), "rready": Out(1), "rdata": In(data_width), "rresp": In(2),
        "rlast": In(1), "rid": In(id_width),
    })


def axi4_read_signature(*, addr_width: int, data_width: int, id_width: int) -> wiring.Signature:
    """The AR and R channels only (what the fetch unit and the load DMA use)."""
    full = axi4_signature(addr_width=addr_width, data_width=data_width, id_width=id_width)
    return wiring.Signature({k: v for k, v in full.members.items() if k[:2] == "ar" or k[0] == "r"})


def axil_signature(*, addr_width: int = 8, data_width: int = 32) -> wiring.Signature:
    """AXI4-Lite slave as seen from the master side (flip it in the slave)."""
    return wiring.Signature({
        "awvalid": Out(1), "awready": In(1), "awaddr": Out(addr_width),
        "wvalid": Out(1), "wready": In(1), "wdata": Out(data_width), "wstrb": Out(data_width // 8),
        "bvalid": In(1), "bready": Out(1), "bresp": In(2),
        "arvalid": Out(1), "arready": In(1), "araddr": Out(addr_width),
        "rvalid": In(1), "rready": Out(1), "rdata": In(data_width), "rresp": In(2),
    })
