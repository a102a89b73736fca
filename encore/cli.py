"""The ``encore`` command line. Each subcommand lives in encore/commands/<name>.py and exposes
``add_parser(subparsers)`` (which sets ``func``) so commands can be added without touching this file.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from . import commands


class UserError(Exception):
    """A mistake of the user's: printed as one clear line, exit status 2."""


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
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"encore {args.command}: error: {e}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, FileNotFoundError, KeyError) as e:
        # Input checks across Encore raise these with messages that name the bad value.
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"encore {args.command}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
