"""The error every simulator raises when a program stops on an error code."""

from __future__ import annotations

from isa import ErrorCode, Instruction
from isa.disasm import format_instruction


class SimError(RuntimeError):
    """Execution stopped: ``code`` (isa.ErrorCode) at instruction ``index``.

    ``detail`` says what was wrong and what is accepted; ``instruction`` (when the raiser knows
    it) is the failing instruction, printed readably by :meth:`one_line`.
    """

    def __init__(self, code: ErrorCode, index: int, message: str,
                 instruction: Instruction | None = None):
        super().__init__(f"instruction {index}: {ErrorCode(code).name}: {message}")
        self.code = ErrorCode(code)
        self.index = index
        self.detail = message
        self.instruction = instruction

    def one_line(self) -> str:
        """``CODE at instruction N (DECODED): detail`` -- the command line's error message."""
        ins = f" ({format_instruction(self.instruction)})" if self.instruction is not None else ""
        return f"{self.code.name} at instruction {self.index}{ins}: {self.detail}"
