"""``python -m ormbench``: the same as the ``ormbench`` command."""

from ormbench.cli import main

raise SystemExit(main())
