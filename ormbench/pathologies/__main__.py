"""``python -m ormbench.pathologies``: the same as ``ormbench pathologies``."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ormbench.cli import main as cli_main


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ormbench pathologies ARGV``; the exit codes are the ``ormbench`` command's."""
    return cli_main(["pathologies", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
