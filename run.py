#!/usr/bin/env python3
"""Bootstrap and run: ``python3 run.py bench`` (the benchmarks) or ``python3 run.py test``.

Creates ``.venv`` on first use, installs ormbench with every dependency pinned by
``constraints.txt`` (reinstalling when either file changes), then runs pytest in it. Extra
arguments go to pytest, e.g. ``python3 run.py bench -k canonical``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".ormbench-installed"
COMMANDS = {
    "bench": ["-m", "pytest", "benchmarks", "--benchmark-only"],
    "test": ["-m", "pytest", "tests"],
}


def _python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_venv() -> Path:
    """Create and install the venv unless it matches pyproject.toml and constraints.txt."""
    digest = hashlib.sha256(
        (ROOT / "pyproject.toml").read_bytes() + (ROOT / "constraints.txt").read_bytes()
    ).hexdigest()
    if STAMP.is_file() and STAMP.read_text() == digest:
        return _python()
    if not _python().exists():
        venv.create(VENV, with_pip=True)
    pip = [str(_python()), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "-c", "constraints.txt", "-e", ".[dev,histogram]"], cwd=ROOT, check=True)
    STAMP.write_text(digest)
    return _python()


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python3 run.py {{{','.join(COMMANDS)}}} [pytest args...]", file=sys.stderr)
        return 2
    python = ensure_venv()
    return subprocess.call([str(python), *COMMANDS[argv[0]], *argv[1:]], cwd=ROOT)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
