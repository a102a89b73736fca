"""The error every simulator raises when a program stops on an error code."""

from __future__ import annotations

from isa import ErrorCode


class SimError(RuntimeError):
    """Execution stopped: ``code`` (isa.ErrorCode) at instruction ``index``."""

    def __init__(self, code: ErrorCode, index: int, message: str):
        super().__init__(f"instruction {index}: {ErrorCode(code).name}: {message}")
        self.code = ErrorCode(code)
        self.index = index
        self.detail = message
