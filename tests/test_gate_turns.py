"""The turns plugin: two pytest runs take turns test by test, in ABBA order, and never hang."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import subprocess_env

# Four tests that log which side ran which test, in the order they ran.
TESTS = """
import os, pathlib

LOG = pathlib.Path(os.environ["TURNS_LOG"])


def log(name):
    with LOG.open("a") as f:
        f.write(f"{os.environ['SIDE']}:{name}\\n")


def test_1(): log(1)
def test_2(): log(2)
def test_3(): log(3)
def test_4(): log(4)
"""


def _start(tmp_path: Path, side: str, tests: Path, extra: list[str]) -> subprocess.Popen[str]:
    env = subprocess_env(TURNS_LOG=str(tmp_path / "log"), SIDE=side)
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        str(tests),
        "-q",
        "-p",
        "no:cacheprovider",
        # Only the plugin under test: not ormbench's own (no server, no fixtures to import).
        "-p",
        "no:ormbench",
        "-p",
        "ormbench.gate.turns",
        "--turns-dir",
        str(tmp_path / "baton"),
        "--turns-side",
        side,
        *extra,
    ]
    return subprocess.Popen(cmd, cwd=tmp_path, env=env, text=True, stdout=subprocess.PIPE)


def test_sides_take_turns_abba(tmp_path: Path) -> None:
    """Started together, base and head alternate test by test, each going first every other
    test (ABBA), and both finish."""
    tests = tmp_path / "test_turns_demo.py"
    tests.write_text(TESTS)
    procs = [_start(tmp_path, side, tests, []) for side in ("head", "base")]
    for proc in procs:
        proc.communicate(timeout=120)
        assert proc.returncode == 0
    order = (tmp_path / "log").read_text().split()
    assert order == [
        "base:1",
        "head:1",
        "head:2",
        "base:2",
        "base:3",
        "head:3",
        "head:4",
        "base:4",
    ]


def test_side_runs_alone_when_its_peer_is_done(tmp_path: Path) -> None:
    """A side whose peer ran fewer tests (or died) finishes alone instead of waiting."""
    tests = tmp_path / "test_turns_demo.py"
    tests.write_text(TESTS)
    procs = [
        _start(tmp_path, "base", tests, ["-k", "test_1"]),
        _start(tmp_path, "head", tests, []),
    ]
    for proc in procs:
        proc.communicate(timeout=120)
        assert proc.returncode == 0
    order = (tmp_path / "log").read_text().split()
    assert order[:2] == ["base:1", "head:1"]
    assert sorted(order[2:]) == ["head:2", "head:3", "head:4"]


def test_without_turns_dir_the_plugin_does_nothing(tmp_path: Path) -> None:
    """Loaded but not configured, the plugin leaves a run alone."""
    tests = tmp_path / "test_turns_demo.py"
    tests.write_text(TESTS)
    env = subprocess_env(TURNS_LOG=str(tmp_path / "log"), SIDE="solo")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(tests),
            "-q",
            "-p",
            "no:ormbench",
            "-p",
            "ormbench.gate.turns",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout
    assert len((tmp_path / "log").read_text().split()) == 4
