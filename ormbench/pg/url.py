"""Backend ``url``: a server that already runs. ormbench never starts or stops it."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ormbench.errors import ConfigError
from ormbench.pg.connect import inspect
from ormbench.pg.server import PgServer


def parse_url(raw: str) -> PgServer:
    """Parse a PostgreSQL URL (any driver suffix) into a PgServer, or raise ConfigError."""
    shown = _hide_password(raw)
    try:
        url = make_url(raw.replace("postgres://", "postgresql://", 1))
        port = url.port or 5432
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(
            f"could not parse --pg-url {shown!r} ({exc}); expected "
            "postgresql://user:password@host:port/dbname"
        ) from None
    if url.get_backend_name() != "postgresql":
        raise ConfigError(
            f"--pg-url {shown!r} is not a PostgreSQL URL; expected "
            "postgresql://user:password@host:port/dbname"
        )
    if not url.host and not url.query.get("host"):
        raise ConfigError(f"--pg-url {shown!r} names no host; expected postgresql://user@host/db")
    return PgServer(
        backend="url",
        host=url.host or str(url.query["host"]),
        port=port,
        user=url.username or "postgres",
        password=url.password,
        dbname=url.database or url.username or "postgres",
    )


def start_url(raw: str, connect_timeout: float) -> PgServer:
    """Use a running server: parse, connect within the timeout, read its version."""
    return inspect(parse_url(raw), connect_timeout)


def _hide_password(raw: str) -> str:
    head, at, tail = raw.rpartition("@")
    if not at or "://" not in head:
        return raw
    scheme, _, auth = head.partition("://")
    user, colon, _ = auth.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{tail}"
