"""CPU time of one execution: this thread's plus the PostgreSQL backends' serving the engine.

Why: on a shared machine the wall time of a 2 ms page mostly measures the scheduler. With the
machine loaded (load average about 1.8 on 2 cores), 300 settled paired rounds of
``orm_scalars`` against the floor on canonical p10 spread their wall ratio with a standard
deviation of 0.85 in log units, and their CPU ratio with 0.11, at the same median within the
noise (``python benchmarks/figures/cpu_noise.py --scenario canonical --page-size 10``). A page's
cost is CPU on both ends of a loopback connection: the client's Python and the server's
backend. Waiting for a core is not a cost of the code, and a regression that adds waits
without CPU (more round trips, a lock) changes statement counts or plans, which the gate's
exact tier compares, or wall time, which it still tests.

How: the client is ``time.thread_time_ns`` (``CLOCK_THREAD_CPUTIME_ID``; psycopg's and
SQLAlchemy's synchronous paths run on the caller's thread). A backend is
``/proc/PID/schedstat``'s first field, the nanoseconds the kernel ran it; a backend that waits
for the next statement has been switched out, so the figure read after an execution is
exact. Each connection the engine opens is mapped to its backend's process once, at the first
reading after its connect (never inside a clock), and only with proof (``backend_process``);
a connection that cannot be proven (a remote server, a container whose process is
ambiguous) makes the clock unavailable, never a guess.
Parallel workers are other processes: a plan with a Gather is not fully counted, and the
caller falls back to wall time for it.
"""

from __future__ import annotations

import os
import socket
import time
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

PROC = Path("/proc")


def _schedstat_ns(pid: int) -> int | None:
    """Nanoseconds the kernel has run ``pid`` (None: no such process, or not readable)."""
    try:
        with open(PROC / str(pid) / "schedstat", "rb") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _cmdline(pid: int | str) -> str:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def _nspid(pid: str) -> list[int]:
    """The pid of ``pid`` in each pid namespace it belongs to, outermost first."""
    try:
        for line in (PROC / pid / "status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return [int(x) for x in line.split()[1:]]
    except (OSError, ValueError):
        pass
    return []


def backend_process(backend_pid: int, user: str, client_port: int | None) -> int | None:
    """The pid, in this machine's pid namespace, of the backend serving one connection.

    Proof, in order: (1) ``backend_pid`` here is a PostgreSQL backend of ``user`` whose title
    names this connection's client port (a server on this machine, reached over TCP); (2) a
    container's backend: exactly one process here has ``backend_pid`` as its pid inside a
    child namespace and the title of a backend of ``user``. Otherwise None.
    """
    title = _cmdline(backend_pid)
    prefix = f"postgres: {user} "
    if title.startswith(prefix) and client_port is not None and f"({client_port})" in title:
        return backend_pid
    candidates = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        ns = _nspid(entry.name)
        if len(ns) > 1 and ns[-1] == backend_pid and _cmdline(entry.name).startswith(prefix):
            candidates.append(int(entry.name))
    return candidates[0] if len(candidates) == 1 else None


def _client_port(dbapi_connection: Any) -> int | None:
    """The local TCP port of a psycopg connection (None over a Unix socket)."""
    try:
        fd = dbapi_connection.pgconn.socket
        with socket.socket(fileno=os.dup(fd)) as sock:
            address = sock.getsockname()
    except (OSError, AttributeError, ValueError):
        return None
    return address[1] if isinstance(address, tuple) else None


class Backends:
    """The backend processes of an engine's open connections.

    A connection is noted at connect (its backend pid, user and client port: no system call
    beyond one ``getsockname``) and proven at the next reading, outside every clock: a strategy
    that opens a connection per request must not pay a scan of ``/proc`` inside its timing.
    """

    def __init__(self) -> None:
        # id(dbapi connection) -> (backend pid, user, client port) until proven, then the pid
        # here (or None: not provable).
        self.pids: dict[int, tuple[int, str, int | None] | int | None] = {}

    def on_connect(self, dbapi_connection: Any, _record: Any) -> None:
        info = getattr(dbapi_connection, "info", None)
        pid, user = getattr(info, "backend_pid", None), getattr(info, "user", None)
        key = id(dbapi_connection)
        self.pids[key] = (
            (int(pid), str(user), _client_port(dbapi_connection)) if pid and user else None
        )
        weakref.finalize(dbapi_connection, self.pids.pop, key, None)

    def hosts(self) -> list[int] | None:
        """The pids to read, or None when a connection's backend could not be proven."""
        for key, noted in list(self.pids.items()):
            if isinstance(noted, tuple):
                proven = backend_process(*noted)
                if key in self.pids:  # not closed meanwhile
                    self.pids[key] = proven
        pids = list(self.pids.values())
        if any(p is None for p in pids):
            return None
        return [p for p in pids if isinstance(p, int)]


_TRACKED: weakref.WeakKeyDictionary[Engine, Backends] = weakref.WeakKeyDictionary()


def track(engine: Engine) -> None:
    """Map every connection ``engine`` opens from now on to its backend (``make_engine`` calls
    this for every engine ormbench creates, before its first connection)."""
    if engine not in _TRACKED:
        backends = Backends()
        event.listen(engine, "connect", backends.on_connect)
        _TRACKED[engine] = backends


class CpuClock:
    """Reads the CPU time of this thread plus the backends of ``engine``'s connections."""

    def __init__(self, engine: Engine) -> None:
        self.backends = _TRACKED.get(engine)

    def read(self) -> dict[int, int] | None:
        """A reading: nanoseconds per process (0: this thread); None when unavailable."""
        if self.backends is None:
            return None
        pids = self.backends.hosts()
        if pids is None:
            return None
        out = {0: time.thread_time_ns()}
        for pid in pids:
            ns = _schedstat_ns(pid)
            if ns is not None:
                out[pid] = ns
        return out

    @staticmethod
    def seconds(start: dict[int, int] | None, end: dict[int, int] | None) -> float | None:
        """CPU seconds between two readings (a backend that appeared in between counts whole;
        one that vanished makes the interval unknown: None)."""
        if start is None or end is None or any(pid not in end for pid in start):
            return None
        return sum(ns - start.get(pid, 0) for pid, ns in end.items()) / 1e9


def has_parallel_workers(plans: Iterable[Any]) -> bool:
    """Whether a plan shape (``ormbench.measure.plans``) runs parallel workers, whose CPU is
    spent in processes the clock does not read."""
    return any("Gather" in repr(plan) for plan in plans)


__all__ = ["Backends", "CpuClock", "backend_process", "has_parallel_workers", "track"]
