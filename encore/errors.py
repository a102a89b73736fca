"""Exit statuses of the ``encore`` command and the one top-level handler that maps exceptions to
them (README "Exit statuses"). Every command runs through :func:`run_command`, so a new command
gets the same behaviour without code of its own.

    0   success
    2   usage error: bad command-line syntax or option values (argparse)
    3   bad model or input: unknown model, bad --text / --inputs, a model that does not fit
    4   bad program file: not a program file, truncated, corrupt, or a header that contradicts
        itself (the message names the field)
    5   program error: an instruction the machine rejects (at load, in a simulator or the RTL):
        ``CODE at instruction N (decoded instruction): what was expected``
    6   RTL mismatch: the RTL disagrees with the functional simulator (outputs, error, hang)
    70  a bug in Encore: the traceback, then a line saying so
    130 interrupted (Ctrl-C)
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable

from isa import ProgramFileError
from isa.program import ProgramInstructionError
from sim.errors import SimError

OK = 0
RTL_MISMATCH = 6
USAGE = 2
BAD_INPUT = 3
BAD_PROGRAM_FILE = 4
PROGRAM_ERROR = 5
BUG = 70
INTERRUPTED = 130


class EncoreError(Exception):
    """An error with its own exit status, printed as one line."""

    status = BAD_INPUT


class UsageError(EncoreError):
    status = USAGE


class InputError(EncoreError):
    status = BAD_INPUT


class RtlMismatch(EncoreError):
    """The RTL run disagrees with the functional simulator."""

    status = RTL_MISMATCH


#: Exceptions Encore's input checks raise with a message naming the bad value.
INPUT_ERRORS = (ValueError, FileNotFoundError, IsADirectoryError, NotADirectoryError,
                PermissionError, KeyError)


def classify(e: BaseException) -> tuple[int, str] | None:
    """(exit status, one-line message) for an expected error, None for a bug in Encore."""
    if isinstance(e, (SimError, ProgramInstructionError)):
        return PROGRAM_ERROR, e.one_line()
    if isinstance(e, ProgramFileError):
        return BAD_PROGRAM_FILE, str(e)
    if isinstance(e, EncoreError):
        return e.status, str(e)
    if isinstance(e, INPUT_ERRORS):
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        return BAD_INPUT, str(msg)
    return None


def run_command(name: str, func: Callable[[], int | None]) -> int:
    """Run one command; print expected errors as ``encore NAME: error: ...`` on one line."""
    try:
        return int(func() or 0)
    except KeyboardInterrupt:
        print(f"encore {name}: interrupted", file=sys.stderr)
        return INTERRUPTED
    except Exception as e:  # the one place that decides what the user sees
        known = classify(e)
        if known is None:
            traceback.print_exc()
            print(f"encore {name}: this is a bug in Encore ({type(e).__name__}: {e}); please "
                  "report it with the traceback above", file=sys.stderr)
            return BUG
        status, msg = known
        print(f"encore {name}: error: {' '.join(str(msg).split())}", file=sys.stderr)
        return status
