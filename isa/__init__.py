"""Encore's contract: machine parameters, instruction set, numerics and program container.

``compiler``, ``sim`` and ``hw`` import from here and never from each other.
"""

from .fields import FIELDS, INSTR_BITS, INSTR_BYTES, LAYOUT, PARAM_ROWS_PER_BLOCK, attn_param_rows
from .instructions import DecodeError, Instruction, decode_program, encode_program
from .opcodes import ErrorCode, Mem, Opcode, Plane, Queue, queue_of
from .params import SUPPORTED_DIMS, MachineConfig
from .program import Program, ProgramFileError, TensorInfo

__all__ = [
    "FIELDS", "INSTR_BITS", "INSTR_BYTES", "LAYOUT", "PARAM_ROWS_PER_BLOCK", "SUPPORTED_DIMS",
    "DecodeError", "ErrorCode", "Instruction", "MachineConfig", "Mem", "Opcode", "Program",
    "Plane", "ProgramFileError", "Queue", "TensorInfo", "attn_param_rows", "decode_program",
    "encode_program", "queue_of",
]
