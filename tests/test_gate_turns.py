"""The turns plugin: two pytest runs enter each test together, alternate benchmark rounds,
run tests of their own alone, and never hang."""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from fixtures.cli import subprocess_env

# Tests that log which side ran what, in the order it ran: benchmark rounds and a plain test.
HEADER = """
import os, pathlib

LOG = pathlib.Path(os.environ["TURNS_LOG"])


def log(name):
    with LOG.open("a") as f:
        f.write(f"{os.environ['SIDE']}:{name}\\n")

"""
BENCH = """
def test_{name}(benchmark):
    benchmark.pedantic(lambda: log("{name}"), rounds=3, iterations=1)
"""
PLAIN = """
def test_{name}():
    log("{name}")
"""


def _write(directory: Path, tests: list[tuple[str, str]]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    body = "".join((BENCH if kind == "bench" else PLAIN).format(name=name) for kind, name in tests)
    (directory / "test_turns_demo.py").write_text(HEADER + body)


def _pytest(tmp_path: Path, side: str, extra: Sequence[str] = ()) -> list[str]:
    """One side's pytest command line, run in ``tmp_path/side`` (same test file name, so the
    same node ids); loads the plugin under test and not ormbench's own (no server)."""
    return [
        sys.executable,
        "-m",
        "pytest",
        "test_turns_demo.py",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:ormbench",
        "-p",
        "ormbench.gate.turns",
        *extra,
    ]


def _start(tmp_path: Path, side: str, extra: Sequence[str] = ()) -> subprocess.Popen[str]:
    env = subprocess_env(TURNS_LOG=str(tmp_path / "log"), SIDE=side)
    turns = ["--turns-dir", str(tmp_path / "baton"), "--turns-side", side, *extra]
    cmd = _pytest(tmp_path, side, turns)
    return subprocess.Popen(cmd, cwd=tmp_path / side, env=env, text=True, stdout=subprocess.PIPE)


def _run_both(tmp_path: Path, extra: dict[str, list[str]] | None = None) -> list[str]:
    procs = [_start(tmp_path, side, (extra or {}).get(side, [])) for side in ("head", "base")]
    try:
        for proc in procs:
            out, _ = proc.communicate(timeout=120)
            assert proc.returncode == 0, out
    finally:
        for proc in procs:  # a hung pair must not outlive the test (and load the machine)
            proc.kill()
            proc.wait()
    return (tmp_path / "log").read_text().split()


def test_rounds_alternate_between_sides(tmp_path: Path) -> None:
    """Started together, both sides enter each benchmark together and alternate its rounds
    one by one; a plain test runs on one side, then the other."""
    tests = [("bench", "a"), ("plain", "p"), ("bench", "b")]
    for side in ("base", "head"):
        _write(tmp_path / side, tests)
    order = _run_both(tmp_path)
    a = [entry for entry in order if entry.endswith(":a")]
    b = [entry for entry in order if entry.endswith(":b")]
    assert len(a) == len(b) == 6
    # Every round is followed by a round of the other side.
    for rounds in (a, b):
        sides = [entry.split(":")[0] for entry in rounds]
        assert all(x != y for x, y in itertools.pairwise(sides)), rounds
    # Tests do not overlap: all of a, then both sides' p, then all of b.
    names = [entry.split(":")[1] for entry in order]
    assert names == ["a"] * 6 + ["p"] * 2 + ["b"] * 6


def test_side_runs_alone_when_its_peer_is_done(tmp_path: Path) -> None:
    """A side whose peer ran fewer tests finishes alone instead of waiting."""
    tests = [("bench", "a"), ("bench", "b"), ("plain", "p")]
    for side in ("base", "head"):
        _write(tmp_path / side, tests)
    order = _run_both(tmp_path, {"base": ["-k", "test_a"]})
    assert sorted(order[:6]) == ["base:a"] * 3 + ["head:a"] * 3
    assert order[6:] == ["head:b"] * 3 + ["head:p"]


def test_tests_of_one_side_run_alone_and_order_differences_do_not_hang(tmp_path: Path) -> None:
    """Head has a test base lacks and runs the shared ones in another order: every test runs,
    nothing waits for a test its peer will never reach."""
    _write(tmp_path / "base", [("bench", "a"), ("bench", "b"), ("plain", "p")])
    _write(tmp_path / "head", [("bench", "b"), ("bench", "new"), ("plain", "p"), ("bench", "a")])
    order = _run_both(tmp_path)
    assert sorted(order) == sorted(
        ["base:a"] * 3
        + ["base:b"] * 3
        + ["base:p"]
        + ["head:a"] * 3
        + ["head:b"] * 3
        + ["head:new"] * 3
        + ["head:p"]
    )


def test_without_turns_dir_the_plugin_does_nothing(tmp_path: Path) -> None:
    """Loaded but not configured, the plugin leaves a run alone."""
    _write(tmp_path / "solo", [("plain", "1"), ("plain", "2"), ("bench", "3")])
    env = subprocess_env(TURNS_LOG=str(tmp_path / "log"), SIDE="solo")
    result = subprocess.run(
        _pytest(tmp_path, "solo"),
        cwd=tmp_path / "solo",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout
    assert len((tmp_path / "log").read_text().split()) == 5
