"""ormbench's private state directory: the kept server and the registry of running clusters.

``$ORMBENCH_STATE_DIR``, else ``$XDG_STATE_HOME/ormbench``, else ``~/.local/state/ormbench``.
The directory is 0700 and every file in it 0600, written atomically: the kept server's file
holds its URL, password included, so that ``ormbench up`` can print it again.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

# Mode of the state directory and of the files in it: the owner's alone.
DIR_MODE = 0o700
FILE_MODE = 0o600


def state_dir() -> Path:
    """Where ormbench keeps state between runs (not created here)."""
    explicit = os.environ.get("ORMBENCH_STATE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME")
    return (Path(base) if base else Path.home() / ".local" / "state") / "ormbench"


def private_dir(path: Path) -> Path:
    """``path`` created if missing, and made 0700 if it is ours."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    if path.stat().st_uid == os.geteuid():
        os.chmod(path, DIR_MODE)
    return path


def write_private(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as JSON to ``path``, 0600 from its first byte, replacing it atomically."""
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``; None if it is missing or not a JSON object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
