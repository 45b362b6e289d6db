"""Interleave two pytest runs round by round: base and head take turns.

A pytest plugin for the gate's CI job. Base and head run as two pytest processes at the same
time, each in its own checkout, and pass a token: only its holder runs, the other side waits
blocked on a pipe (asleep, using no CPU). Both sides enter each benchmark together, then hand
the token over after every timed round (pytest-benchmark's ``pedantic`` teardown), so a
benchmark's base and head rounds alternate within the same second instead of running a whole
benchmark or run apart.

Why rounds and not whole benchmarks: on a shared 2-core machine the ratio to the floor drifts
5-10% between one-second blocks of the same benchmark in the same process (the machine's
state moves under the Python side and the server side unevenly, so pairing with the floor
does not cancel it). Two blocks, one per side, then differ by that much on unchanged code;
alternating rounds puts both sides in the same blocks, and the drift cancels between them
as it does between a strategy and its paired floor.

Both sides normally run the same tests in the same order. A test that only one side has runs
alone (its peer does not wait for it); a side that finishes, fails or dies hands over for
good, and its peer runs alone from then on (never waiting more than ``WAIT_TIMEOUT_S``).

It imports nothing from ormbench, so the base checkout can use head's copy of it::

    cp ormbench/gate/turns.py "$DIR/ormbench_turns.py"
    PYTHONPATH="$DIR" pytest -p ormbench_turns --turns-dir "$DIR" --turns-side base ...  &
    PYTHONPATH="$DIR" pytest -p ormbench_turns --turns-dir "$DIR" --turns-side head ...

Without ``--turns-dir`` the plugin does nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

# The two sides; base holds the token first.
SIDES = ("base", "head")
# Seconds between checks that a peer we wait for is still alive.
POLL_S = 0.1
# Longest wait for the token: a peer that holds it longer is treated as gone.
WAIT_TIMEOUT_S = 900.0
# A peer that has not started within this many seconds (no pid file) is treated as gone.
STARTUP_TIMEOUT_S = 120.0


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ormbench-turns", "interleave base and head runs (perf gate)")
    group.addoption("--turns-dir", default=None, help="shared directory of the two runs' token")
    group.addoption("--turns-side", default=None, choices=SIDES, help="which side this run is")


def _open_fifo(path: Path) -> int:
    with contextlib.suppress(FileExistsError):
        os.mkfifo(path)
    # Read-write: opening never blocks, and a read never sees end-of-file when the peer exits.
    return os.open(path, os.O_RDWR)


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)  # atomic: the peer never reads half a file


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


class Baton:
    """The token two runs pass through a pair of named pipes in ``directory``, and what each
    side tells the other: the tests it collected, the test it is at, whether it is done."""

    def __init__(self, directory: Path, side: str) -> None:
        self.dir = directory
        self.side = side
        self.peer = SIDES[1 - SIDES.index(side)]
        self.dir.mkdir(parents=True, exist_ok=True)
        self._rx = _open_fifo(self.dir / f"{side}.fifo")
        self._tx = _open_fifo(self.dir / f"{self.peer}.fifo")
        self.holding = side == SIDES[0]
        self.alone = False
        self.tests: list[str] = []
        self.started = time.monotonic()
        (self.dir / f"{side}.pid").write_text(str(os.getpid()))

    # -- what the peer says ------------------------------------------------------------------

    def _peer_gone(self) -> bool:
        if (self.dir / f"{self.peer}.done").exists():
            return True
        pid_file = self.dir / f"{self.peer}.pid"
        if not pid_file.exists():  # not started yet: wait for it, for a while
            return time.monotonic() - self.started > STARTUP_TIMEOUT_S
        try:
            os.kill(int(pid_file.read_text()), 0)
        except (ProcessLookupError, ValueError):
            return True
        except PermissionError:
            return False
        return False

    def _peer_behind(self, nodeid: str, index: int) -> bool:
        """The peer will run ``nodeid`` (this side's test ``index``) but has not reached it."""
        tests = _read_json(self.dir / f"{self.peer}.tests")
        if tests is None:
            return True  # still starting up
        if nodeid not in tests:
            return False  # a test of this side only: runs alone
        at = _read_json(self.dir / f"{self.peer}.at") or {}
        if at.get("index", -1) >= tests.index(nodeid):
            return False  # reached it (or passed it: then this side's run of it is alone)
        waited = at.get("nodeid")
        if at.get("syncing") and waited in self.tests and self.tests.index(waited) > index:
            # Each waits for the other (their orders differ): base goes first, head waits.
            return self.side != SIDES[0]
        return True

    # -- the token ---------------------------------------------------------------------------

    def _take(self) -> None:
        """Block until the peer hands the token over, or is gone."""
        deadline = time.monotonic() + WAIT_TIMEOUT_S
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self._rx], [], [], POLL_S)
            if ready:
                os.read(self._rx, 1)
                self.holding = True
                return
            if self._peer_gone():
                break
        self.alone = True

    def _give(self) -> None:
        os.write(self._tx, b"t")
        self.holding = False

    def pass_turn(self) -> None:
        """Let the peer run until its next turn ends, then carry on."""
        if self.alone:
            return
        if self.holding:
            if self._peer_gone():
                self.alone = True
                return
            self._give()
        self._take()

    # -- the hooks' entry points -------------------------------------------------------------

    def collected(self, nodeids: list[str]) -> None:
        self.tests = nodeids
        _write_json(self.dir / f"{self.side}.tests", nodeids)

    def enter(self, nodeid: str) -> None:
        """Before a test: wait for the token and for the peer to reach the same test."""
        index = self.tests.index(nodeid) if nodeid in self.tests else -1
        at = self.dir / f"{self.side}.at"
        _write_json(at, {"nodeid": nodeid, "index": index, "syncing": True})
        if not self.holding:
            self.pass_turn()
        while not self.alone and self._peer_behind(nodeid, index):
            self.pass_turn()
        _write_json(at, {"nodeid": nodeid, "index": index, "syncing": False})

    def done(self) -> None:
        """This side is finished: hand the token over for good."""
        (self.dir / f"{self.side}.done").write_text("")
        if self.holding and not self.alone:
            self._give()
        os.close(self._rx)
        os.close(self._tx)


_BATON = pytest.StashKey[Baton]()


def _yield_after_rounds(baton: Baton) -> None:
    """Make every ``benchmark.pedantic`` round end with a turn of the peer (its teardown)."""
    from pytest_benchmark.fixture import BenchmarkFixture

    original = BenchmarkFixture.pedantic

    def pedantic(self: Any, target: Any, *args: Any, **kwargs: Any) -> Any:
        teardown: Callable[..., Any] | None = kwargs.pop("teardown", None)

        def then_pass(*a: Any, **kw: Any) -> None:
            if teardown is not None:
                teardown(*a, **kw)
            baton.pass_turn()

        return original(self, target, *args, teardown=then_pass, **kwargs)

    BenchmarkFixture.pedantic = pedantic  # type: ignore[method-assign]


def pytest_configure(config: pytest.Config) -> None:
    directory, side = config.getoption("turns_dir"), config.getoption("turns_side")
    if directory is None:
        return
    if side is None:
        raise pytest.UsageError("--turns-dir needs --turns-side base or --turns-side head")
    baton = Baton(Path(directory), side)
    config.stash[_BATON] = baton
    _yield_after_rounds(baton)


def pytest_collection_finish(session: pytest.Session) -> None:
    baton = session.config.stash.get(_BATON, None)
    if baton is not None:
        baton.collected([item.nodeid for item in session.items])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: Any) -> Generator[None, None, None]:
    baton = item.config.stash.get(_BATON, None)
    if baton is not None:
        baton.enter(item.nodeid)
    yield


def pytest_unconfigure(config: pytest.Config) -> None:
    baton = config.stash.get(_BATON, None)
    if baton is not None:
        baton.done()
