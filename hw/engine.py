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

* ``MULS``: the slots of the shared per-lane multiplier bank (hw/mulbank.py, ``MUL_SLOTS``)
  it uses, each at most once; :meth:`Engine.mul` is its one way to multiply per lane.

Members every engine has: ``start`` (one-cycle pulse, ``instr`` valid with it), ``instr``
(the 128-bit word), ``busy``, ``done`` (one-cycle pulse: all writes made), ``checked``
(one-cycle pulse once the data-dependent checks are decided; never for engines without any)
and ``error`` (valid with ``done``: NONE, or the code the instruction failed with, in which
case it wrote nothing).
"""

from __future__ import annotations

import enum
from typing import NamedTuple

from amaranth.hdl import Const, Mux, Signal, Value
from amaranth.lib import data, wiring
from amaranth.lib.memory import ReadPort, WritePort
from amaranth.lib.wiring import In, Out

from isa import INSTR_BITS, ErrorCode, MachineConfig, Opcode
from isa.cycles import SRAM_READ_LATENCY

from .isa_layout import instr_layout
from .mulbank import MUL_SLOTS, mul_members, slot_cycles, slot_operand, slot_product
from .products import check_rebuilt, register_products


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
    MULS: tuple[int, ...] = ()

    def __init__(self, *, dim: int, sp_depth: int, acc_depth: int, shared_mul: bool = False):
        self._dim, self._sp_depth, self._acc_depth = dim, sp_depth, acc_depth
        #: With ``shared_mul`` the products come from the bank outside (hw/compute.py) through
        #: ``mul<k>_a`` / ``mul<k>_b`` / ``mul<k>_p``; without, the engine has its own
        #: multipliers of the same slot widths (an engine on its own, as in the unit tests).
        self.shared_mul = shared_mul
        self._muls_used: set[int] = set()
        #: What the word checks need of the machine (a MachineConfig has the same attributes).
        self.sizes = Sizes(dim=dim, sp_rows=sp_depth, acc_rows=acc_depth)
        sizes = dict(dim=dim, sp_depth=sp_depth, acc_depth=acc_depth)
        super().__init__({
            "start": In(1), "instr": In(INSTR_BITS),
            "busy": Out(1), "done": Out(1), "checked": Out(1), "error": Out(ErrorCode),
            **{name: In(port_signature(kind, **sizes)) for name, kind in self.PORTS.items()},
            **(mul_members(self.MULS, dim) if shared_mul else {}),
        })

    @classmethod
    def from_config(cls, cfg: MachineConfig, **kw) -> Engine:
        return cls(dim=cfg.dim, sp_depth=cfg.sp_rows, acc_depth=cfg.acc_rows, **kw)

    def mul(self, m, slot: int, a: list, b: list, name: str) -> list:
        """Per lane ``a[n] * b[n]`` on multiplier ``slot``: the product registers,
        :meth:`mul_cycles` cycles after the operands.

        Each operand must fit the slot's signed width (checked here, at elaboration): the
        product is then exact, whether it comes from the shared bank or from the engine's own
        multiplier (the same pipeline, hw/mulbank.py)."""
        if slot not in self.MULS or slot in self._muls_used:
            raise ValueError(f"{type(self).__name__}: multiplier slot {slot} not declared in "
                             f"MULS {self.MULS} or used twice")
        self._muls_used.add(slot)
        wa, wb = MUL_SLOTS[slot]
        av = [slot_operand(v, wa, f"{name} a") for v in a]
        bv = [slot_operand(v, wb, f"{name} b") for v in b]
        if self.shared_mul:
            pa, pb, pp = (getattr(self, f"mul{slot}_{x}") for x in "abp")
            m.d.comb += [pa[n].eq(v) for n, v in enumerate(av)]
            m.d.comb += [pb[n].eq(v) for n, v in enumerate(bv)]
            return [pp[n] for n in range(len(av))]
        return [slot_product(m, slot, x, y, f"{name}{n}")
                for n, (x, y) in enumerate(zip(av, bv, strict=True))]

    @staticmethod
    def mul_cycles(slot: int) -> int:
        """Cycles from a :meth:`mul` operand to its product."""
        return slot_cycles(slot)

    @classmethod
    def static_checks(cls, op: Opcode, word, cfg: MachineConfig) -> list:
        """``[(condition, ErrorCode), ...]`` on the instruction ``word``: first true wins."""
        return []

    @classmethod
    def late_checks(cls, op: Opcode, word, cfg: MachineConfig) -> list:
        """Word-only checks made after the data-dependent ones, same form as static_checks."""
        return []

    def late_error(self, m, op: Opcode, ins_word):
        """:meth:`first_error` of ``late_checks(op, .)`` as a register: (1) at ``start`` the
        operands of the checks' products, from ``instr``; (2) the products alone (a DSP each);
        (3) the error, from ``ins_word`` (the instruction the engine holds from ``start`` on)
        and the products. Valid from the second cycle after ``start`` (the first in which a
        data check can use it: a read issued in the first cycle arrives SRAM_READ_LATENCY = 2
        later) until the next ``start``; no product, add and compare in the data checks'
        cycle (Fmax)."""
        assert SRAM_READ_LATENCY >= 2, "the error is registered twice after its operands"
        second = register_products(m, [c for c, _ in self.late_checks(op, self.instr, self.sizes)],
                                   "late", enable=self.start)
        held = [(second(Value.cast(c)), code)
                for c, code in self.late_checks(op, ins_word, self.sizes)]
        check_rebuilt(second)
        err = Signal(ErrorCode, name="late_error")
        m.d.sync += err.eq(self.first_error(held))
        return err

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

