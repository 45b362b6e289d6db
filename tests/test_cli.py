"""``ormbench up`` keeps a server between runs; ``ormbench down`` removes all of it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg

from fixtures.cli import subprocess_env
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


def test_page_json_into_a_closed_pipe_stops_quietly(tiny_cli_args):
    """`ormbench page --json | head -1`: the reader leaves early, no BrokenPipe traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ormbench", "page", "--scenario", "canonical", "--page-size",
         "100", "--strategy", "orm_scalars", "--json", *tiny_cli_args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=subprocess_env(),
    )  # fmt: skip
    assert proc.stdout.readline().strip() == b"{"
    proc.stdout.close()  # 100 rows of JSON do not fit a pipe's buffer: the writer hits EPIPE
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 141, err.decode()
    assert b"Traceback" not in err and b"BrokenPipe" not in err
