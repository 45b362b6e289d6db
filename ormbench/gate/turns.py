"""Interleave two pytest runs benchmark by benchmark: base and head take turns.

A pytest plugin for the gate's CI job. Base and head run as two pytest processes at the same
time, each in its own checkout, and pass a baton: one benchmark of one side runs while the
other side waits (asleep, using no CPU), so a benchmark's base and head measurements are
seconds apart instead of a whole run apart. Whatever else the machine does meanwhile (other
jobs, a noisy neighbour, thermal drift) hits both sides alike, which sequential runs cannot
promise (measured.md: "Sequential runs measure drift").

The order is ABBA (base, head, head, base, ...): each side goes first for every other
benchmark, so a linear drift cancels too. A side that finishes, fails or dies hands over
for good: its peer then runs alone, and never waits more than ``WAIT_TIMEOUT_S`` for a turn.

It imports nothing from ormbench, so the base checkout can use head's copy of it::

    cp ormbench/gate/turns.py "$DIR/ormbench_turns.py"
    PYTHONPATH="$DIR" pytest -p ormbench_turns --turns-dir "$DIR" --turns-side base ...  &
    PYTHONPATH="$DIR" pytest -p ormbench_turns --turns-dir "$DIR" --turns-side head ...

Without ``--turns-dir`` the plugin does nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

# The two sides, and whose turn each baton position is: ABBA cancels a linear drift.
SIDES = ("base", "head")
PATTERN = ("base", "head", "head", "base")
# Seconds between looks at the baton while waiting (short next to a ~1 s benchmark).
POLL_S = 0.005
# Longest wait for one turn: a peer that hangs longer is treated as gone.
WAIT_TIMEOUT_S = 900.0


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ormbench-turns", "interleave base and head runs (perf gate)")
    group.addoption("--turns-dir", default=None, help="shared directory of the two runs' baton")
    group.addoption("--turns-side", default=None, choices=SIDES, help="which side this run is")


class Baton:
    """The shared turn counter of two runs, in ``dir``: whose turn it is, who is done."""

    def __init__(self, directory: Path, side: str) -> None:
        self.dir = directory
        self.side = side
        self.peer = SIDES[1 - SIDES.index(side)]
        self.dir.mkdir(parents=True, exist_ok=True)
        self._file = self.dir / "baton"
        self._lock = self.dir / "baton.lock"
        (self.dir / f"{side}.pid").write_text(str(os.getpid()))

    @contextlib.contextmanager
    def _locked(self) -> Generator[None, None, None]:
        with open(self._lock, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _position(self) -> int:
        try:
            return int(self._file.read_text() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def _peer_gone(self) -> bool:
        if (self.dir / f"{self.peer}.done").exists():
            return True
        pid_file = self.dir / f"{self.peer}.pid"
        if not pid_file.exists():
            return False  # not started yet: wait for it
        try:
            os.kill(int(pid_file.read_text()), 0)
        except (ProcessLookupError, ValueError):
            return True
        except PermissionError:
            return False
        return False

    def wait(self) -> None:
        """Block until it is this side's turn, or the peer has finished or gone."""
        deadline = time.monotonic() + WAIT_TIMEOUT_S
        while time.monotonic() < deadline:
            with self._locked():
                if PATTERN[self._position() % len(PATTERN)] == self.side or self._peer_gone():
                    return
            time.sleep(POLL_S)

    def advance(self) -> None:
        """Hand the baton on: the next position of the pattern."""
        with self._locked():
            self._file.write_text(str(self._position() + 1))

    def done(self) -> None:
        """This side is finished: its peer never waits for it again."""
        (self.dir / f"{self.side}.done").write_text("")


_BATON = pytest.StashKey[Baton]()


def pytest_configure(config: pytest.Config) -> None:
    directory, side = config.getoption("turns_dir"), config.getoption("turns_side")
    if directory is None:
        return
    if side is None:
        raise pytest.UsageError("--turns-dir needs --turns-side base or --turns-side head")
    config.stash[_BATON] = Baton(Path(directory), side)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: Any) -> Generator[None, None, None]:
    baton = item.config.stash.get(_BATON, None)
    if baton is None:
        yield
        return
    baton.wait()
    try:
        yield
    finally:
        baton.advance()


def pytest_unconfigure(config: pytest.Config) -> None:
    baton = config.stash.get(_BATON, None)
    if baton is not None:
        baton.done()
