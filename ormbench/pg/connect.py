"""Connecting to a server: one bounded attempt, errors that say what to fix, readiness polling."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import psycopg

from ormbench.errors import ConnectError
from ormbench.pg.server import KEY_SETTINGS, PgServer

# Seconds between readiness polls of a server that is starting.
POLL_INTERVAL = 0.05


def connect(server: PgServer, timeout: float, **kwargs: object) -> psycopg.Connection:
    """Open a psycopg connection or raise ConnectError naming the cause and the fix."""
    try:
        # libpq's connect_timeout is whole seconds; psycopg enforces it for every address tried.
        return psycopg.connect(
            server.conninfo, connect_timeout=max(1, math.ceil(timeout)), **kwargs
        )
    except psycopg.OperationalError as exc:
        raise ConnectError(explain_connect_error(server, exc, timeout)) from None


def explain_connect_error(server: PgServer, exc: psycopg.Error, timeout: float) -> str:
    """Turn a libpq failure into one line that names the fix."""
    where = f"{server.host}:{server.port}"
    detail = " ".join(str(exc).split())
    if exc.sqlstate == "28P01" or "password authentication failed" in detail:
        return (
            f"wrong password for user {server.user!r} at {where}; "
            "fix the password in --pg-url / ORMBENCH_PG_URL"
        )
    if "no password supplied" in detail:
        return (
            f"server at {where} wants a password for user {server.user!r} and none was given; "
            "add it to --pg-url / ORMBENCH_PG_URL (postgresql://user:password@host/db)"
        )
    if exc.sqlstate == "28000" or "no pg_hba.conf entry" in detail or "role" in detail:
        return (
            f"server at {where} refused user {server.user!r} ({detail}); "
            "fix the user in --pg-url / ORMBENCH_PG_URL"
        )
    if exc.sqlstate == "3D000" or "does not exist" in detail:
        return (
            f"database {server.dbname!r} does not exist at {where}; "
            f"create it (createdb {server.dbname}) or name an existing one in --pg-url"
        )
    return (
        f"cannot reach PostgreSQL at {where} within {timeout:g}s ({detail}); "
        "start the server, fix --pg-url / ORMBENCH_PG_URL, raise --pg-connect-timeout, "
        "or use --pg-backend local"
    )


def inspect(server: PgServer, timeout: float) -> PgServer:
    """Fill in the server's version and key settings from a real query."""
    with connect(server, timeout, autocommit=True) as conn:
        # A SQL_ASCII database hands text back as bytes (b'15.18').
        version = conn.execute("SHOW server_version").fetchone()[0]
        server.server_version = _text(version).split()[0]
        rows = conn.execute(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s)",
            [list(KEY_SETTINGS)],
        ).fetchall()
        server.settings = dict(sorted((_text(k), _text(v)) for k, v in rows))
    return server


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def wait_ready(
    server: PgServer,
    deadline_s: float,
    alive: Callable[[], str | None] = lambda: None,
) -> None:
    """Poll ``SELECT 1`` until it answers or the deadline passes.

    ``alive`` returns an error text when the server process has died, so a crash is reported
    at once instead of after the deadline.
    """
    start = time.monotonic()
    attempts = 0
    last = "no attempt made"
    while True:
        attempts += 1
        try:
            with psycopg.connect(server.conninfo, connect_timeout=2, autocommit=True) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError as exc:
            last = " ".join(str(exc).split())
        died = alive()
        if died:
            raise ConnectError(f"PostgreSQL exited while starting: {died}")
        if time.monotonic() - start > deadline_s:
            raise ConnectError(
                f"PostgreSQL at {server.host}:{server.port} did not answer SELECT 1 within "
                f"{deadline_s:g}s ({attempts} attempts; last error: {last}); "
                "check the server log or raise the deadline"
            )
        time.sleep(POLL_INTERVAL)
