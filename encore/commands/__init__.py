"""Subcommands of the ``encore`` command line, one module each (see encore/cli.py)."""
