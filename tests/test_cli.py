"""``ormbench up`` keeps a server between runs; ``ormbench down`` removes all of it."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import psycopg

from tests.conftest import subprocess_env
from tests.test_cleanup import _alive


def test_up_reuse_down(run_cli, tmp_path):
    """up prints a working URL, a second up reuses the same server, down removes it."""
    env = subprocess_env(ORMBENCH_STATE_DIR=str(tmp_path), ORMBENCH_PG_BACKEND="local")
    first = run_cli("up", env=env)
    assert first.returncode == 0, first.stderr
    url = re.fullmatch(r"export ORMBENCH_PG_URL='(.+)'\n", first.stdout).group(1)
    state = json.loads((tmp_path / "kept-server.json").read_text())
    pid, root = int(state["pid"]), Path(state["root"])
    try:
        with psycopg.connect(url.replace("+psycopg", "")) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        again = run_cli("up", env=env)
        assert again.stdout == first.stdout
    finally:
        down = run_cli("down", env=env)
    assert down.returncode == 0
    assert "removed kept local server" in down.stderr
    assert not _alive(pid) and not root.exists()
    assert not (tmp_path / "kept-server.json").exists()
    assert os.environ.get("ORMBENCH_STATE_DIR") != str(tmp_path)
