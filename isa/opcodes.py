"""Opcodes, queues and error codes shared by the compiler, the simulators and the RTL."""

from __future__ import annotations

import enum

OPCODE_BITS = 5


class Opcode(enum.IntEnum):
    """Instruction opcodes (bits [4:0] of every instruction word; ``OPCODE_BITS`` wide).

    A plain IntEnum (the contract package does not import Amaranth): it is an Amaranth shape
    as it is, and hw/ compares fields against its members.
    """

    NOP = 0  #: compute queue; does nothing but carry dependency flags
    LOAD = 1  #: load queue; DRAM -> scratchpad / accumulator, 2-D strided
    STORE = 2  #: store queue; scratchpad / accumulator -> DRAM, 2-D strided
    GEMM = 3  #: compute queue; systolic array, weight-stationary, K-chained
    REQUANT = 4  #: compute queue; vector unit: acc + bias -> int8
    GELU = 5  #: compute queue; vector unit: acc + bias -> integer GELU -> int8
    RESADD = 6  #: compute queue; vector unit: acc + bias (+) int8 residual -> int32
    LAYERNORM = 7  #: compute queue; vector unit: int32 rows -> integer LayerNorm -> int8
    ATTN = 8  #: compute queue; attention engine: softmax(Q K^T) V for one head


class Queue(enum.IntEnum):
    """The three decoupled instruction queues (VTA-style access/execute split)."""

    LOAD = 0
    COMPUTE = 1
    STORE = 2


QUEUE_OF = {
    Opcode.LOAD: Queue.LOAD,
    Opcode.STORE: Queue.STORE,
}


#: The queue chain load <-> compute <-> store: queue -> (prev, next) neighbour (None: no such).
NEIGHBOURS: dict[Queue, tuple[Queue | None, Queue | None]] = {
    Queue.LOAD: (None, Queue.COMPUTE),
    Queue.COMPUTE: (Queue.LOAD, Queue.STORE),
    Queue.STORE: (Queue.COMPUTE, None),
}


def queue_of(op: Opcode) -> Queue:
    """The queue that executes ``op`` (everything but LOAD and STORE computes)."""
    return QUEUE_OF.get(op, Queue.COMPUTE)


class ErrorCode(enum.IntEnum):
    """Values of the ERROR status register; the simulators raise the same codes."""

    NONE = 0
    ILLEGAL_OPCODE = 1  #: opcode not in :class:`Opcode`
    UNIMPLEMENTED = 2  #: a valid opcode this hardware build does not execute
    SRAM_RANGE = 3  #: a scratchpad / accumulator access past the end of the memory
    DRAM_RANGE = 4  #: a DRAM access outside the program's DRAM image
    BAD_FIELD = 5  #: a field value the instruction does not admit (e.g. rows = 0)
    DEPENDENCY = 6  #: a dependency flag towards a queue that does not exist, or token underflow
    TIMEOUT = 7  #: reserved for the host driver: the device did not finish in time
    #: hardware only: a LOAD, STORE or instruction fetch got an AXI SLVERR / DECERR response
    #: (the simulators have no bus, so they never raise it)
    BUS_ERROR = 8


class Mem(enum.IntEnum):
    """The ``mem`` field of LOAD / STORE."""

    SP = 0  #: scratchpad, int8 elements
    ACC = 1  #: accumulator, int32 elements (little-endian in DRAM)


class Plane(enum.IntEnum):
    """The ``plane`` field of REQUANT, GELU and LAYERNORM: what the instruction writes.

    A 16-bit value ``v`` in ``[WIDE_MIN, WIDE_MAX]`` (isa/numerics.py) is stored as two int8
    planes, ``hi = rshift_round(v, 8)`` and ``lo = v - 256 * hi`` (both in [-128, 127]); a GEMM
    reads them in two passes (``shift8`` on the high plane's), RESADD with ``res_wide`` both at
    once. Value 3 is a BAD_FIELD error.
    """

    INT8 = 0  #: the int8 result, saturated (version 1's behaviour)
    HIGH = 1  #: the high byte plane of the result saturated to 16 bits
    LOW = 2  #: the low byte plane of the same 16-bit result
