"""ormbench/measure/cpu.py: the CPU clock reads this thread and the proven server backends."""

from __future__ import annotations

import os

import psycopg
import pytest
from sqlalchemy import Engine, create_engine, text

from ormbench.db import make_engine
from ormbench.measure.cpu import CpuClock, backend_process, has_parallel_workers
from ormbench.pg.server import PgServer

# Server-side work with no rows to send: CPU spent by the backend alone.
BURN = "SELECT count(*) FROM generate_series(1, 300000)"


def _local(pg_server: PgServer) -> None:
    if pg_server.backend not in ("local", "url") or pg_server.host not in ("127.0.0.1", "::1"):
        pytest.skip("the backend's process is provable only for a server on this machine")


def test_an_engines_backend_is_proven_and_its_cpu_counted(pg_server: PgServer) -> None:
    """A connection of an engine ormbench made maps to its backend; a statement that burns
    server CPU shows in the clock, though this thread only waits for it."""
    _local(pg_server)
    engine = make_engine(pg_server, "public")
    try:
        with engine.connect() as conn:
            pid = conn.connection.dbapi_connection.info.backend_pid
            clock = CpuClock(engine)
            start = clock.read()
            assert start is not None and pid in start
            conn.execute(text(BURN)).scalar()
            end = clock.read()
        seconds = CpuClock.seconds(start, end)
        server = (end[pid] - start[pid]) / 1e9
        assert seconds is not None and server > 0.005
        assert seconds >= server
    finally:
        engine.dispose()


def test_a_backend_is_proven_only_by_its_own_connection(pg_server: PgServer) -> None:
    """The title must name this connection's client port: another port proves nothing, and
    a process that is not a backend of the user is never taken."""
    _local(pg_server)
    with psycopg.connect(pg_server.conninfo) as conn:
        pid, user = conn.info.backend_pid, conn.info.user
        port = _port(conn)
        assert backend_process(pid, user, port) == pid
        assert backend_process(pid, user, 1) is None
        assert backend_process(pid, "someone_else", port) is None
        assert backend_process(os.getpid(), user, port) is None


def _port(conn: psycopg.Connection) -> int:
    import socket

    with socket.socket(fileno=os.dup(conn.pgconn.socket)) as sock:
        return sock.getsockname()[1]


def test_an_engine_ormbench_did_not_make_has_no_clock(pg_server: PgServer) -> None:
    """No connect listener, no proof: the clock is unavailable rather than partial."""
    engine: Engine = create_engine(pg_server.sqlalchemy_url)
    try:
        assert CpuClock(engine).read() is None
    finally:
        engine.dispose()


def test_a_vanished_process_makes_the_interval_unknown() -> None:
    """A backend that was read at the start but not at the end: no CPU figure (a guess would
    drop its time); one that appeared in between counts whole."""
    assert CpuClock.seconds({0: 10, 42: 100}, {0: 30}) is None
    assert CpuClock.seconds({0: 10}, {0: 30, 42: 1_000}) == pytest.approx(1.02e-6)
    assert CpuClock.seconds(None, {0: 1}) is None


def test_parallel_plans_are_not_fully_counted() -> None:
    """Workers under a Gather spend CPU in processes the clock does not read."""
    assert has_parallel_workers([{"node_type": "Gather", "children": []}])
    assert has_parallel_workers(
        [{"node_type": "Limit", "children": [{"node_type": "Gather Merge"}]}]
    )
    assert not has_parallel_workers([{"node_type": "Limit", "children": []}])
