"""Every statement a strategy sends, captured at the psycopg cursor.

Capturing below SQLAlchemy sees the raw-cursor strategy too, and server-side cursors
(``yield_per``). While a capture is active, connections checked out of the engine's pool get
recording cursor classes; afterwards they get psycopg's own back, so timed rounds never run
through the recorder. BEGIN and ROLLBACK are sent by psycopg itself, not through a cursor,
and are not counted: a single-query strategy sends exactly one statement.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from sqlalchemy import Engine, event


@dataclass
class Statement:
    """One statement as sent: SQL with psycopg placeholders, its parameters, rows fetched."""

    sql: str
    params: Any
    rows_fetched: int = 0
    server_side: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "sql": self.sql,
            "params": _jsonable(self.params),
            "rows_fetched": self.rows_fetched,
            "server_side": self.server_side,
        }


@dataclass
class Capture:
    """What one execution sent."""

    statements: list[Statement] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.statements)

    @property
    def rows_fetched(self) -> int:
        return sum(s.rows_fetched for s in self.statements)


_active: Capture | None = None


class _Recording:
    """Mixin for psycopg cursors: record execute() and count fetched rows.

    Placed before the psycopg class in the bases, so ``super()`` reaches psycopg's methods.
    """

    _server_side = False
    _ob_statement: Statement | None = None

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        self._ob_statement = None
        if _active is not None:
            sql = query if isinstance(query, str) else query.as_string(self)
            self._ob_statement = Statement(sql=sql, params=params, server_side=self._server_side)
            _active.statements.append(self._ob_statement)
        return super().execute(query, params, **kwargs)  # type: ignore[misc]

    def _ob_count(self, rows: Any) -> Any:
        if self._ob_statement is not None and rows is not None:
            self._ob_statement.rows_fetched += len(rows) if isinstance(rows, list) else 1
        return rows

    def fetchone(self) -> Any:
        return self._ob_count(super().fetchone())  # type: ignore[misc]

    def fetchmany(self, size: int = 0) -> Any:
        return self._ob_count(super().fetchmany(size))  # type: ignore[misc]

    def fetchall(self) -> Any:
        return self._ob_count(super().fetchall())  # type: ignore[misc]

    def __iter__(self) -> Iterator[Any]:
        for row in super().__iter__():  # type: ignore[misc]
            yield self._ob_count(row)


class RecordingCursor(_Recording, psycopg.Cursor):
    """A client-side cursor that records what it sends."""


class RecordingServerCursor(_Recording, psycopg.ServerCursor):
    """A server-side (named) cursor that records what it sends, e.g. for yield_per."""

    _server_side = True


@contextlib.contextmanager
def cursor_classes(
    engine: Engine, cursor: type[psycopg.Cursor], server_cursor: type[psycopg.ServerCursor]
) -> Iterator[None]:
    """Connections checked out of ``engine``'s pool inside the block use these cursor classes.

    On checkin they get psycopg's own back, so no timed execution ever runs through them.
    """

    def checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        dbapi_connection.cursor_factory = cursor
        dbapi_connection.server_cursor_factory = server_cursor

    def checkin(dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is not None:
            dbapi_connection.cursor_factory = psycopg.Cursor
            dbapi_connection.server_cursor_factory = psycopg.ServerCursor

    event.listen(engine, "checkout", checkout)
    event.listen(engine, "checkin", checkin)
    try:
        yield
    finally:
        event.remove(engine, "checkout", checkout)
        event.remove(engine, "checkin", checkin)


@contextlib.contextmanager
def capture(engine: Engine) -> Iterator[Capture]:
    """Record the statements sent through ``engine``'s pool inside the block."""
    global _active
    if _active is not None:
        raise RuntimeError("statement captures do not nest")
    result = Capture()
    _active = result
    try:
        with cursor_classes(engine, RecordingCursor, RecordingServerCursor):
            yield result
    finally:
        _active = None


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
