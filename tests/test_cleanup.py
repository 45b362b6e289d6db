"""A pytest session that is interrupted, terminated or fails leaves no server and no temp dir."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fixtures.cli import subprocess_env

HOLDER = """
import json, os, time

def test_hold(pg_server):
    with open({marker!r} + ".tmp", "w") as f:
        json.dump(pg_server.details, f)
    os.rename({marker!r} + ".tmp", {marker!r})
    if {fail!r}:
        raise RuntimeError("a failing test")
    time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is gone for our purpose.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _session(tmp_path: Path, fail: bool) -> tuple[subprocess.Popen[str], dict[str, str]]:
    marker = tmp_path / "server.json"
    (tmp_path / "test_hold.py").write_text(HOLDER.format(marker=str(marker), fail=fail))
    env = subprocess_env(ORMBENCH_PG_BACKEND="local")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_hold.py"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # A runner started in the background of a shell (nohup ... &) ignores SIGINT, and its
        # children inherit that: Python then never turns Ctrl-C into KeyboardInterrupt. The
        # session under test gets the disposition a user's terminal gives it.
        preexec_fn=_default_sigint,
    )
    deadline = time.monotonic() + 60
    while not marker.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the session never started its server: {proc.communicate()[0]}")
        time.sleep(0.05)
    return proc, json.loads(marker.read_text())


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_leaves_nothing(tmp_path, sig):
    """Ctrl-C or SIGTERM while the server runs: the process and its temp dir are gone after."""
    proc, details = _session(tmp_path, fail=False)
    pid, root = int(details["pid"]), Path(details["root"])
    assert _alive(pid) and root.is_dir()
    proc.send_signal(sig)
    output = proc.communicate(timeout=60)[0]
    assert proc.returncode != 0, output
    assert not _alive(pid), output
    assert not root.exists(), output


def test_failure_leaves_nothing(tmp_path):
    """A failing test still stops the server and removes its temp dir."""
    proc, details = _session(tmp_path, fail=True)
    output = proc.communicate(timeout=60)[0]
    assert proc.returncode == pytest.ExitCode.TESTS_FAILED, output
    assert not _alive(int(details["pid"]))
    assert not Path(details["root"]).exists()
