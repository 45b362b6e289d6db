"""Every statement a strategy sends, captured at the psycopg cursor.

Capturing below SQLAlchemy sees the raw-cursor strategy too, and server-side cursors
(``yield_per``). While a capture is active, connections checked out of the engine's pool get
recording cursor classes; afterwards they get psycopg's own back, so timed rounds never run
through the recorder. BEGIN and ROLLBACK are sent by psycopg itself, not through a cursor,
and are not counted: a single-query strategy sends exactly one statement.

Each statement also carries what a replay needs to run it under the session state it ran with
(``ormbench.measure.plans.replay``): its kind (a query EXPLAIN can take, a session-state
statement such as SET, SET LOCAL or ``set_config``, a transaction-control statement, or
anything else, such as DDL) and the transaction it ran in, counted from SQLAlchemy's commit
and rollback events and the pool's reset. The capture also counts the engine's pool events:
new DBAPI connections (a new server backend each) and checkouts.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import psycopg
from sqlalchemy import Engine, event

from ormbench.jsonable import jsonable

StatementKind = Literal["query", "state", "transaction", "other"]

# Comments before the first keyword (SQLAlchemy never sends them; users' text() may).
_LEADING_COMMENTS = re.compile(r"^(\s*(--[^\n]*\n|/\*.*?\*/))*\s*", re.S)
# Statements EXPLAIN takes (a data-modifying one is explained inside a rolled-back replay).
_QUERY = re.compile(r"(SELECT|WITH|VALUES|TABLE|INSERT|UPDATE|DELETE|MERGE)\b", re.I)
# Session state: SET, SET LOCAL, RESET, and set_config() called as a bare SELECT.
_STATE = re.compile(r"(SET|RESET)\b|SELECT\s+(pg_catalog\s*\.\s*)?set_config\s*\(", re.I)
# Transaction control sent as SQL: never replayed as such, the replay keeps its own.
_TRANSACTION = re.compile(
    r"(BEGIN|START\s+TRANSACTION|COMMIT|END|ROLLBACK|ABORT|SAVEPOINT|RELEASE|PREPARE\s+"
    r"TRANSACTION)\b",
    re.I,
)
# A SET LOCAL, or a set_config(..., true): its effect ends with the transaction.
_LOCAL = re.compile(r"SET\s+LOCAL\b|,\s*true\s*\)\s*$", re.I)
# Placeholders and literals, and a run of them in a list, for the normalized form.
_PLACEHOLDER = re.compile(r"%\(\w+\)s|%s|\$\d+|'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")
_LIST = re.compile(r"\?(?:\s*,\s*\?)+")
_SPACE = re.compile(r"\s+")


def statement_kind(sql: str) -> StatementKind:
    """How a replay treats ``sql``: explain it, replay it as state, keep it as a boundary, or
    run it in a savepoint (anything else: DDL, LOCK, NOTIFY, ...)."""
    text = _LEADING_COMMENTS.sub("", sql, count=1)
    if _STATE.match(text):
        return "state"
    if _TRANSACTION.match(text):
        return "transaction"
    if _QUERY.match(text):
        return "query"
    return "other"


def normalized_sql(sql: str) -> str:
    """``sql`` with every parameter and literal as ``?``, lists of them as ``?, ...``, and
    whitespace collapsed: equal for the statements that differ only in values (an N+1's)."""
    text = _PLACEHOLDER.sub("?", sql)
    return _SPACE.sub(" ", _LIST.sub("?, ...", text)).strip()


@dataclass
class Statement:
    """One statement as sent: SQL with psycopg placeholders, its parameters, rows fetched,
    and the transaction of the execution it ran in (0 for the first)."""

    sql: str
    params: Any
    rows_fetched: int = 0
    server_side: bool = False
    transaction: int = 0
    # FETCH round trips of a server-side cursor (each fetch call; iteration per itersize).
    fetches: int = 0
    # Sent on a connection in DBAPI autocommit: no BEGIN or ROLLBACK around it.
    autocommit: bool = False

    @property
    def round_trips(self) -> int:
        """Round trips this statement cost: its execute, plus FETCHes and CLOSE when
        server-side (psycopg's BEGIN and ROLLBACK are counted per transaction)."""
        return 1 + (self.fetches + 1 if self.server_side else 0)

    @property
    def kind(self) -> StatementKind:
        return statement_kind(self.sql)

    @property
    def normalized(self) -> str:
        return normalized_sql(self.sql)

    @property
    def local(self) -> bool:
        """A session-state statement whose effect ends with its transaction."""
        if self.kind != "state":
            return False
        values = self.params.values() if isinstance(self.params, dict) else self.params or ()
        return bool(_LOCAL.search(self.sql.strip())) or any(v is True for v in values)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sql": self.sql,
            "params": jsonable(self.params),
            "rows_fetched": self.rows_fetched,
            "server_side": self.server_side,
            "kind": self.kind,
            "transaction": self.transaction,
        }


@dataclass
class Capture:
    """What one execution sent, and the pool and transaction events around it."""

    statements: list[Statement] = field(default_factory=list)
    # Transactions ended (commit, rollback, pool reset) while capturing.
    transactions: int = 0
    # New DBAPI connections (each a new server backend) and pool checkouts while capturing.
    connects: int = 0
    checkouts: int = 0
    commits: int = 0

    @property
    def count(self) -> int:
        return len(self.statements)

    @property
    def transaction_count(self) -> int:
        """Transactions psycopg opened (BEGIN): autocommit statements run outside any."""
        return len({s.transaction for s in self.statements if not s.autocommit})

    @property
    def round_trips(self) -> int:
        """Every statement's round trips, plus BEGIN and COMMIT/ROLLBACK per transaction."""
        return sum(s.round_trips for s in self.statements) + 2 * self.transaction_count

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
            self._ob_statement = Statement(
                sql=sql,
                params=params,
                server_side=self._server_side,
                transaction=_active.transactions,
                autocommit=self.connection.autocommit,  # type: ignore[attr-defined]
            )
            _active.statements.append(self._ob_statement)
        return super().execute(query, params, **kwargs)  # type: ignore[misc]

    def _ob_count(self, rows: Any, fetch: bool = True) -> Any:
        if self._ob_statement is not None:
            if self._server_side and fetch:
                self._ob_statement.fetches += 1
            if rows is not None:
                self._ob_statement.rows_fetched += len(rows) if isinstance(rows, list) else 1
        return rows

    def fetchone(self) -> Any:
        return self._ob_count(super().fetchone())  # type: ignore[misc]

    def fetchmany(self, size: int = 0) -> Any:
        return self._ob_count(super().fetchmany(size))  # type: ignore[misc]

    def fetchall(self) -> Any:
        return self._ob_count(super().fetchall())  # type: ignore[misc]

    def __iter__(self) -> Iterator[Any]:
        # A server-side cursor's iteration FETCHes itersize rows a round trip.
        itersize = getattr(self, "itersize", 0) or 0
        n = 0
        for row in super().__iter__():  # type: ignore[misc]
            fetch = bool(itersize) and n % itersize == 0
            n += 1
            yield self._ob_count(row, fetch)
        if itersize and n % itersize == 0:
            self._ob_count(None)  # the FETCH that came back short


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

    def ended(*args: Any) -> None:
        # One transaction can fire rollback and then reset: count a boundary once, and only
        # after a statement ran in it.
        if result.statements and result.statements[-1].transaction == result.transactions:
            result.transactions += 1

    def committed(*args: Any) -> None:
        result.commits += 1
        ended()

    def connected(*args: Any) -> None:
        result.connects += 1

    def checked_out(*args: Any) -> None:
        result.checkouts += 1

    listeners = [
        ("commit", committed),
        ("rollback", ended),
        ("reset", ended),
        ("connect", connected),
        ("checkout", checked_out),
    ]
    for name, fn in listeners:
        event.listen(engine, name, fn)
    try:
        with cursor_classes(engine, RecordingCursor, RecordingServerCursor):
            yield result
    finally:
        _active = None
        for name, fn in listeners:
            event.remove(engine, name, fn)
