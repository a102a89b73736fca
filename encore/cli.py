"""The ``encore`` command line. Each subcommand lives in encore/commands/<name>.py and exposes
``add_parser(subparsers)`` (which sets ``func``) so commands can be added without touching this
file. Every command runs through encore.errors.run_command: one-line errors, an exit status per
class of error (README "Exit statuses").
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from . import commands
from .errors import InputError as UserError  # noqa: F401  (older name)
from .errors import run_command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="encore",
        description="Encore: compile BERT-class encoders to an integer accelerator, simulate them, "
        "generate its RTL and estimate latency.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        if hasattr(module, "add_parser"):
            module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    parser = build_parser()
    args = parser.parse_args(argv)  # usage errors: argparse prints them and exits with 2
    return run_command(args.command, lambda: args.func(args))

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
