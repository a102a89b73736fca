"""``python -m encore ...``: the same as the ``encore`` command."""

from .cli import main

raise SystemExit(main())
