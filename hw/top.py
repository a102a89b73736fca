"""Encore top level: AXI4 master (DRAM), AXI4-Lite slave (control registers), interrupt.

Block diagram and memory banking: docs/rtl.md. Everything is sized from one MachineConfig.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from isa import MachineConfig, Queue
from isa.params import DRAM_ADDR_BITS

from .axi import axi4_signature, axil_signature
from .axi_port import AxiPort
from .compute import ComputeEngines, port_counts
from .controller import Controller
from .dma import LoadDMA, StoreDMA
from .engine import Port
from .fetch import FetchUnit
from .regs import RegisterBlock
from .sram import Sram
from .streams import log2_exact

CTRL_ADDR_BITS = 8

#: The SRAMs' port roles (hw/sram.py): one physical port per role. The load, compute and store
#: queues run concurrently; the compute queue's engines share its roles' ports.
def sram_roles() -> dict[str, dict[str, tuple[str, ...]]]:
    """Port roles of each SRAM: the load DMA writes, the store DMA reads, and the compute
    queue's shared ports (hw/compute.py, one role per shared port, ``compute0``...)."""
    counts = port_counts()

    def compute(kind: Port) -> tuple[str, ...]:
        return tuple(f"compute{k}" for k in range(counts[kind]))

    return {
        "sp": {"writes": ("load", *compute(Port.SP_WR)), "reads": (*compute(Port.SP_RD), "store")},
        "acc": {"writes": ("load", *compute(Port.ACC_WR)),
                "reads": (*compute(Port.ACC_RD), "store")},
    }


SRAM_ROLES = sram_roles()


def check_config(cfg: MachineConfig) -> None:
    """Raise ValueError for machine parameters this RTL cannot build."""
    if not isinstance(cfg, MachineConfig):
        raise TypeError(f"expected a MachineConfig, not {cfg!r}")
    bb = cfg.dram_bytes_per_cycle
    if bb & (bb - 1) or not 4 <= bb <= 128:
        raise ValueError(f"dram_bytes_per_cycle={bb}: the RTL's AXI data width must be a power "
                         "of two between 4 and 128 bytes")


class EncoreTop(wiring.Component):
    """The accelerator. Ports: ``dram`` (AXI4 master), ``ctrl`` (AXI4-Lite slave), ``irq``."""

    def __init__(self, cfg: MachineConfig):
        check_config(cfg)
        self._cfg = cfg
        super().__init__({
            "dram": Out(axi4_signature(addr_width=DRAM_ADDR_BITS,
                                       data_width=8 * cfg.dram_bytes_per_cycle, id_width=1)),
            "ctrl": In(axil_signature(addr_width=CTRL_ADDR_BITS)),
            "irq": Out(1),
        })

    @property
    def config(self) -> MachineConfig:
        return self._cfg

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        d, bb = cfg.dim, cfg.dram_bytes_per_cycle
        sizes = dict(dim=d, sp_depth=cfg.sp_rows, acc_depth=cfg.acc_rows, bus_bytes=bb)

        # SRAMs built from block-RAM banks, ports requested by role (hw/sram.py, docs/rtl.md
        # "Memories"): the load, compute and store queues each have their own ports, so they
        # proceed in the same cycle; the compute queue's engines share its ports.
        m.submodules.sp = sp = Sram("sp", width=8 * d, depth=cfg.sp_rows, **SRAM_ROLES["sp"])
        m.submodules.acc = acc = Sram("acc", width=32 * d, depth=cfg.acc_rows,
                                      **SRAM_ROLES["acc"])

        m.submodules.regs = regs = RegisterBlock(addr_width=CTRL_ADDR_BITS)
        m.submodules.port = port = AxiPort(bus_bytes=bb)
        m.submodules.fetch = fetch = FetchUnit(bus_bytes=bb, cfg=cfg)
        m.submodules.ctl = ctl = Controller(cfg)
        m.submodules.load = load = LoadDMA(**sizes)
        m.submodules.store = store = StoreDMA(**sizes)
        # Every compute engine (hw/compute.py registration) behind one set of shared ports.
        m.submodules.compute = compute = ComputeEngines(cfg)

        wiring.connect(m, wiring.flipped(self.ctrl), regs.bus)
        wiring.connect(m, wiring.flipped(self.dram), port.dram)
        wiring.connect(m, fetch.ar, port.fetch_ar)
        wiring.connect(m, port.fetch_r, fetch.r)
        wiring.connect(m, load.ar, port.load_ar)
        wiring.connect(m, port.load_r, load.r)
        wiring.connect(m, store.aw, port.aw)
        wiring.connect(m, store.w, port.w)
        wiring.connect(m, port.b, store.b)
        wiring.connect(m, fetch.instr, ctl.instr)
        # [bus errors] AXI error responses (RRESP, BRESP) to the controller's error register.
        m.d.comb += [fetch.rresp.eq(port.rresp), load.rresp.eq(port.rresp),
                     ctl.load_bus_error.eq(load.bus_error), ctl.store_bus_error.eq(store.bus_error)]

        wiring.connect(m, load.sp_wr, sp.write_port("load"))
        wiring.connect(m, load.acc_wr, acc.write_port("load"))
        srams = {"sp": sp, "acc": acc}
        for kind, n in port_counts().items():
            sram, (_, direction) = srams[kind.value[0]], kind.value
            for k in range(n):
                request = sram.read_port if direction == "rd" else sram.write_port
                wiring.connect(m, getattr(compute, kind.member)[k], request(f"compute{k}"))
        wiring.connect(m, store.sp_rd, sp.read_port("store"))
        wiring.connect(m, store.acc_rd, acc.read_port("store"))

        start = regs.ctrl[0]
        m.d.comb += [
            ctl.start.eq(start), ctl.prog_len.eq(regs.prog_len), fetch.dram_size.eq(regs.dram_size),
            ctl.fetch_idle.eq(fetch.idle),
            fetch.start.eq(ctl.launch), fetch.stop.eq(ctl.fetch_stop),
            fetch.prog_addr.eq(regs.prog_addr), fetch.prog_len.eq(regs.prog_len),
        ]
        units = {Queue.LOAD: load, Queue.COMPUTE: compute, Queue.STORE: store}
        for q, engine in units.items():
            port = ctl.unit[q]
            m.d.comb += [engine.start.eq(port.start), engine.instr.eq(port.instr),
                         port.done.eq(engine.done), port.busy.eq(engine.busy)]
            if q == Queue.COMPUTE:  # the only queue with data-dependent checks
                m.d.comb += [port.checked.eq(engine.checked), port.error.eq(engine.error)]

        # Status and performance counters.
        cycles = Signal(32)
        busy_counts = {q: Signal(32, name=f"{q.name.lower()}_busy_cycles") for q in Queue}
        with m.If(ctl.launch):
            m.d.sync += [cycles.eq(0)] + [c.eq(0) for c in busy_counts.values()]
        with m.Elif(ctl.busy):
            m.d.sync += cycles.eq(cycles + 1)
            for q, count in busy_counts.items():
                m.d.sync += count.eq(count + ctl.unit[q].busy)
        # The interrupt rises when a run ends and stays until IRQ_CLEAR or the next START.
        was_busy = Signal()
        m.d.sync += was_busy.eq(ctl.busy)
        with m.If(was_busy & ~ctl.busy):
            m.d.sync += self.irq.eq(1)
        with m.If(regs.ctrl[1] | ctl.launch):
            m.d.sync += self.irq.eq(0)
        m.d.comb += [
            regs.status.eq(ctl.busy | (ctl.done << 1)),
            regs.error.eq(ctl.error), regs.error_index.eq(ctl.error_index),
            regs.cycles.eq(cycles), regs.retired.eq(ctl.retired),
            regs.load_busy.eq(busy_counts[Queue.LOAD]),
            regs.compute_busy.eq(busy_counts[Queue.COMPUTE]),
            regs.store_busy.eq(busy_counts[Queue.STORE]),
            regs.hw_config.eq((d.bit_length() - 1) | (log2_exact(bb, "bus") << 8)),
        ]
        return m


def generate_verilog(cfg: MachineConfig, *, name: str = "encore_top",
                     simulation: bool = False) -> str:
    """Verilog text of the top level for ``cfg``: for synthesis, or with ``simulation`` the
    simulation model (a block RAM read of a row written in the same cycle returns it
    inverted: ``hw.sram._POISON``; hw/rtlsim builds it)."""
    from contextlib import nullcontext

    from amaranth.back import verilog

    from .sram import for_synthesis

    check_config(cfg)  # before the component exists, so a bad config leaves no half-built object
    with nullcontext() if simulation else for_synthesis():
        top = EncoreTop(cfg)
        return verilog.convert(top, name=name, emit_src=False)
