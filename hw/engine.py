"""The compute-engine interface: one signature for every engine of the compute queue.

An engine is a ``wiring.Component`` subclass of :class:`Engine` that declares

* ``OPCODES``: the opcodes it executes (the compute queue starts it for those);
* ``PORTS``: the SRAM ports it needs, name -> :class:`Port` kind (scratchpad / accumulator,
  read / write). The registration (hw/compute.py) gives the engines one shared set of ports,
  as many of each kind as the engine that needs most, multiplexed by the active engine: the
  compute queue runs one instruction at a time, so a new engine adds no physical SRAM port;
* ``static_checks(op, word, cfg)``: the checks decided from the instruction word alone, in the
  functional simulator's order, before the data-dependent ones (the dispatcher makes them);
* ``late_checks(op, word, cfg)``: word-only checks the functional simulator orders *after* a
  data-dependent one; the engine makes them once its data checks pass (``RUNTIME_CHECKED``
  opcodes in isa/cycles.py only).

Members every engine has: ``start`` (one-cycle pulse, ``instr`` valid with it), ``instr``
(the 128-bit word), ``busy``, ``done`` (one-cycle pulse: all writes made), ``checked``
(one-cycle pulse once the data-dependent checks are decided; never for engines without any)
and ``error`` (valid with ``done``: NONE, or the code the instruction failed with, in which
case it wrote nothing).
"""

from __future__ import annotations

import enum
from typing import NamedTuple

from amaranth.hdl import Const, Mux
from amaranth.lib import data, wiring
from amaranth.lib.memory import ReadPort, WritePort
from amaranth.lib.wiring import In, Out

from isa import INSTR_BITS, ErrorCode, MachineConfig, Opcode

from .isa_layout import instr_layout


class Sizes(NamedTuple):
    dim: int
    sp_rows: int
    acc_rows: int


class Port(enum.Enum):
    """Kinds of SRAM port an engine may declare: (memory, direction)."""

    SP_RD = ("sp", "rd")
    SP_WR = ("sp", "wr")
    ACC_RD = ("acc", "rd")
    ACC_WR = ("acc", "wr")

    @property
    def member(self) -> str:
        """Name of the shared port array in hw/compute.py (``sp_rd``, ...)."""
        return f"{self.value[0]}_{self.value[1]}"


def port_signature(kind: Port, *, dim: int, sp_depth: int, acc_depth: int) -> wiring.Signature:
    """The Amaranth memory-port signature of one port of ``kind``."""
    mem, direction = kind.value
    depth, width = (sp_depth, 8 * dim) if mem == "sp" else (acc_depth, 32 * dim)
    sig = ReadPort.Signature if direction == "rd" else WritePort.Signature
    return sig(addr_width=(depth - 1).bit_length(), shape=width)


class Engine(wiring.Component):
    """Base class of compute engines (see the module docstring)."""

    OPCODES: tuple[Opcode, ...] = ()
    PORTS: dict[str, Port] = {}

    def __init__(self, *, dim: int, sp_depth: int, acc_depth: int):
        self._dim, self._sp_depth, self._acc_depth = dim, sp_depth, acc_depth
        #: What the word checks need of the machine (a MachineConfig has the same attributes).
        self.sizes = Sizes(dim=dim, sp_rows=sp_depth, acc_rows=acc_depth)
        sizes = dict(dim=dim, sp_depth=sp_depth, acc_depth=acc_depth)
        super().__init__({
            "start": In(1), "instr": In(INSTR_BITS),
            "busy": Out(1), "done": Out(1), "checked": Out(1), "error": Out(ErrorCode),
            **{name: In(port_signature(kind, **sizes)) for name, kind in self.PORTS.items()},
        })

    @classmethod
    def from_config(cls, cfg: MachineConfig) -> Engine:
        return cls(dim=cfg.dim, sp_depth=cfg.sp_rows, acc_depth=cfg.acc_rows)

    @classmethod
    def static_checks(cls, op: Opcode, word, cfg: MachineConfig) -> list:
        """``[(condition, ErrorCode), ...]`` on the instruction ``word``: first true wins."""
        return []

    @classmethod
    def late_checks(cls, op: Opcode, word, cfg: MachineConfig) -> list:
        """Word-only checks made after the data-dependent ones, same form as static_checks."""
        return []

    @staticmethod
    def first_error(checks: list):
        """The ErrorCode value of the first true condition in ``checks`` (NONE if none)."""
        out = Const(ErrorCode.NONE, ErrorCode)
        for cond, code in reversed(checks):
            out = Mux(cond, code, out)
        return out

    @staticmethod
    def view_of(op: Opcode, word) -> data.View:
        """``word`` as a view of ``op``'s layout."""
        return data.View(instr_layout(op), word)

    def view(self, op: Opcode, word=None) -> data.View:
        """``word`` (default: ``instr``) as a view of ``op``'s layout."""
        return data.View(instr_layout(op), self.instr if word is None else word)

