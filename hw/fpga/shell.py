"""The FPGA shell: ``EncoreTop`` (or one block of it, ``PortShell``) with its ports behind two
shift registers.

The accelerator's own ports (AXI4 master, AXI4-Lite slave, irq: about 280 wires at the narrowest
bus) are meant for an on-chip interconnect, not for package pins, and a CABGA381 ECP5 has about
200 user IOs. To measure the core on its own, the shell drives every input of ``EncoreTop``
from a serial-in shift register and captures every output into a parallel-load shift register,
so the design needs five pins (``clk``, ``rst``, ``sin``, ``capture``, ``sout``), every port
stays observable (nothing is optimised away), and every path to and from the ports starts and
ends at a flip-flop. The shell adds one flip-flop per port bit and nothing else.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Elaboratable, Module, Signal, Value
from amaranth.lib import wiring

from isa import MachineConfig

from ..top import EncoreTop

SHELL_NAME = "encore_fpga"


class PortShell(Elaboratable):
    """Any ``wiring.Component`` with its ports behind the two shift registers (see above)."""

    def __init__(self, core: wiring.Component):
        self.core = core
        self.sin, self.capture = Signal(name="sin"), Signal(name="capture")
        self.sout = Signal(name="sout")

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self.core
        ins, outs = [], []
        for _path, member, value in core.signature.flatten(core):
            (ins if member.flow == wiring.In else outs).append(Value.cast(value))
        n_in = sum(len(v) for v in ins)
        n_out = sum(len(v) for v in outs)
        in_sr, out_sr = Signal(n_in), Signal(n_out)
        m.d.sync += in_sr.eq(Cat(self.sin, in_sr[:-1]))
        m.d.comb += Cat(*ins).eq(in_sr)
        with m.If(self.capture):
            m.d.sync += out_sr.eq(Cat(*outs))
        with m.Else():
            m.d.sync += out_sr.eq(out_sr[1:])
        m.d.comb += self.sout.eq(out_sr[0])
        return m


class FpgaShell(PortShell):
    """``EncoreTop`` for ``cfg`` behind the shell."""

    def __init__(self, cfg: MachineConfig):
        self.cfg = cfg
        super().__init__(EncoreTop(cfg))


def port_shell_verilog(core: wiring.Component, name: str = SHELL_NAME) -> str:
    """Verilog text of ``core`` behind the shell (5 pins), elaborated for synthesis
    (``hw.sram.for_synthesis``)."""
    from amaranth.back import verilog

    from ..sram import for_synthesis

    shell = PortShell(core)
    with for_synthesis():
        return verilog.convert(shell, name=name, ports=[shell.sin, shell.capture, shell.sout],
                               emit_src=False)


def pe_verilog(dim: int, name: str) -> str:
    """Verilog text of the one PE module a ``dim`` array shares (``hw.array.shared_pe_module``):
    the same ``hw.pe.PE`` the array otherwise elaborates, as module ``name``."""
    from amaranth.back import verilog

    from ..array import psum_width
    from ..pe import PE

    pe = PE(psum_width=psum_width(dim))
    return verilog.convert(pe, name=name, emit_src=False)


def shell_verilog(cfg: MachineConfig, shared_pe: bool = False) -> str:
    """Verilog of ``EncoreTop(cfg)`` behind the shell. With ``shared_pe``, the array's DIM**2
    PEs are instances of one module, ``hw.array.pe_module_name(SHELL_NAME, dim)``, defined once
    at the end of the text (for synthesis without flattening: yosys maps the PE once)."""
    if not shared_pe:
        return port_shell_verilog(EncoreTop(cfg))
    from ..array import pe_module_name, shared_pe_module

    with shared_pe_module(SHELL_NAME):
        top = port_shell_verilog(EncoreTop(cfg))
    return top + pe_verilog(cfg.dim, pe_module_name(SHELL_NAME, cfg.dim))
