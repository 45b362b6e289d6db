"""Fast paths: the same page, with per-request work cut to what must vary.

A service sends one statement shape per combination of filters, not one per request: the
statement can be built once and reused with bound parameters, so that SQLAlchemy neither
rebuilds it nor regenerates its cache key (memoized on the statement object) on every call.
``statement_shape`` names what makes two requests need different SQL; ``bound_params`` gives
one request's values under the names ``ormbench.query.build`` binds, so a reused statement
sends exactly the SQL ``page_select`` would build for the request (tests compare both).

Two paths change the SQL on purpose, with the same plan underneath: ``orm_columns_orjson``
casts the JSONB columns to text in a query over the page (decoded by orjson instead of
psycopg's json.loads), and ``dbapi_server_json`` wraps the page statement in ``json_agg`` so
that PostgreSQL builds the JSON. ``orm_columns_autocommit`` sends the page statement itself,
outside a transaction (one round trip instead of BEGIN, the page and ROLLBACK), with jsonb
decoded by orjson on its connection. Every one is held to the oracle like the built-in
strategies. They are registered after the built-in ones (``ormbench.strategies``), most ORM
first.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Hashable, Iterator
from operator import itemgetter
from threading import Lock
from typing import Any

import orjson
from psycopg.adapt import Loader
from psycopg.pq import Format
from psycopg.rows import dict_row
from psycopg.types.json import JsonbLoader
from sqlalchemy import (
    Integer,
    Select,
    Text,
    bindparam,
    cast,
    func,
    literal_column,
    null,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, aliased
from sqlalchemy.types import TypeDecorator

from ormbench.data.models import JSON_COLUMNS, LIST_COLUMNS, ContentItem
from ormbench.query.build import compile_sql, page_select, sort_column, total_select
from ormbench.query.spec import USERNAME, ContentRequest, Page
from ormbench.strategies.builtin import _columns, _entity_page
from ormbench.strategies.registry import StrategyContext, register

# Statements kept per shape and kind; a service has a handful of shapes, the tests' random
# requests a few hundred.
SHAPE_CACHE_SIZE = 4096
# Every partition value: each has its own bound parameter in ``build.source_criteria``.
_PARTITION_VALUES = ("items", "auto")


def statement_shape(req: ContentRequest) -> Hashable:
    """What decides the SQL text of ``req``'s page statement: everything but bound values."""
    return (
        req.sources,
        len(req.tags),
        req.tag_match if len(req.tags) > 1 else None,
        req.is_private is not None,
        req.sort_field,
        req.sort_order,
        req.after is not None,
        req.offset > 0,
        req.with_username,
        req.with_total,  # the server-built body counts inside its one statement
    )


def bound_params(req: ContentRequest) -> dict[str, Any]:
    """Every bound value of ``req``'s page and total statements, by ``build``'s names.

    Values a statement does not use are ignored by the driver, so one dict serves both.
    """
    params: dict[str, Any] = {
        "user_id": req.user_id,
        "limit": req.page_size,
        "page": req.page,
        "page_size": req.page_size,
        **{f"source_{v}": v for v in _PARTITION_VALUES},
        **{f"tag_{i}": tag for i, tag in enumerate(req.tags)},
    }
    if req.is_private is not None:
        params["is_private"] = req.is_private
    if req.offset:
        params["offset"] = req.offset
    if req.after is not None:
        params["after_value"], params["after_id"] = req.after
    return params


class StatementCache:
    """Statements built once per (kind, shape); the first request of a shape builds it."""

    def __init__(self, size: int = SHAPE_CACHE_SIZE) -> None:
        self.size = size
        self._statements: dict[Hashable, Any] = {}
        self._lock = Lock()

    def get(self, kind: str, req: ContentRequest, build: Callable[[ContentRequest], Any]) -> Any:
        key = (kind, statement_shape(req))
        stmt = self._statements.get(key)
        if stmt is None:
            stmt = build(req)
            with self._lock:
                if len(self._statements) >= self.size:
                    self._statements.clear()  # shapes are few; a reset beats an LRU's upkeep
                self._statements[key] = stmt
        return stmt

    def clear(self) -> None:
        with self._lock:
            self._statements.clear()


STATEMENTS = StatementCache()


def _orm_columns_select(req: ContentRequest) -> Select[Any]:
    return page_select(req, *(getattr(ContentItem, c) for c in LIST_COLUMNS))


class OrjsonText(TypeDecorator[Any]):
    """A JSON column the server sends as text, decoded by orjson."""

    impl = Text
    cache_ok = True

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else orjson.loads(value)


class JsonFragment(TypeDecorator[Any]):
    """A JSON column the server sends as text, kept as text for orjson to embed as is."""

    impl = Text
    cache_ok = True

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else orjson.Fragment(value)


def _json_as(json_type: TypeDecorator[Any]) -> Callable[[ContentRequest], Select[Any]]:
    """ORM list columns with the JSONB ones cast to text and read through ``json_type``.

    The casts are in an outer query over the page (the page statement as a subquery, its
    LIMIT keeping PostgreSQL from flattening it), so only the page's rows are converted:
    cast in the page statement itself, they are evaluated where the plan projects, which can
    be below a Sort of every candidate row (rare_tag). The outer query repeats the page's
    order (a subquery's order is not a promise to the query around it); the entity is
    aliased to the subquery, so the statement stays an ORM select.
    """

    def build(req: ContentRequest) -> Select[Any]:
        page = page_select(req, *(getattr(ContentItem, c) for c in LIST_COLUMNS)).subquery("page")
        item = aliased(ContentItem, page)
        columns: list[Any] = [
            type_coerce(cast(getattr(item, c), Text), json_type).label(c)
            if c in JSON_COLUMNS
            else getattr(item, c)
            for c in LIST_COLUMNS
        ]
        if req.with_username:
            columns.append(page.c[USERNAME])
        keys = [getattr(item, sort_column(req).key), item.id]
        order = [k.desc() if req.sort_order == "desc" else k.asc() for k in keys]
        return select(*columns).order_by(*order)

    return build


_orjson_columns_select = _json_as(OrjsonText())
json_fragment_select = _json_as(JsonFragment())


def _entity_select(req: ContentRequest) -> Select[Any]:
    return page_select(req, ContentItem)


def _total(run: Callable[[Any, dict[str, Any]], Any], req: ContentRequest, params: dict) -> Any:
    if not req.with_total:
        return None
    return run(STATEMENTS.get("total", req, total_select), params).scalar_one()


@register
def orm_scalars_reused(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM session.execute(select(ContentItem) built once per shape, bound parameters)"""
    params = bound_params(req)
    stmt = STATEMENTS.get("entity", req, _entity_select)
    with ctx.session_factory() as session:
        result = session.execute(stmt, params)
        columns, rows = _entity_page(req, result.all() if req.with_username else result.scalars())
        return Page(columns, rows, _total(session.execute, req, params))


def _orm_row_page(
    ctx: StrategyContext, req: ContentRequest, key: str, build: Callable[[ContentRequest], Any]
) -> Page:
    """The page of Row tuples of the statement ``build`` makes once per shape (cached as
    ``key``), run through a Session with the request's bound parameters."""
    params = bound_params(req)
    stmt = STATEMENTS.get(key, req, build)
    columns = _columns(req)
    read = itemgetter(*range(len(columns)))
    with ctx.session_factory() as session:
        rows = tuple(read(row) for row in session.execute(stmt, params))
        return Page(columns, rows, _total(session.execute, req, params))


@register
def orm_columns_reused(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM session.execute(select(list columns) built once per shape) -> Row tuples"""
    return _orm_row_page(ctx, req, "orm_columns", _orm_columns_select)


@register
def orm_columns_orjson(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM select(list columns, JSONB as text over the page) built once per shape, orjson

    The casts are in an outer query over the page, so the server converts the page's rows
    only (``_json_as``).
    """
    return _orm_row_page(ctx, req, "orm_columns_orjson", _orjson_columns_select)


class OrjsonJsonb(JsonbLoader):
    """jsonb in text format decoded by orjson, straight from psycopg's buffer (no copy)."""

    def load(self, data: Any) -> Any:
        return orjson.loads(data)


@contextlib.contextmanager
def outside_transaction(session: Session) -> Iterator[None]:
    """``session``'s connection in DBAPI autocommit, never preparing, jsonb decoded by orjson.

    Autocommit: psycopg sends no BEGIN, and the release's rollback is a no-op on an idle
    connection, so a statement is one round trip instead of three. Under READ COMMITTED (the
    default) every statement of a transaction has its own snapshot anyway: a page and its
    total see what they would see in a transaction.

    Never preparing: outside a transaction nothing resets psycopg's count of executions per
    statement (a ROLLBACK does), so after ``prepare_threshold`` (5) executions on one pooled
    connection psycopg would prepare the page statement, and PostgreSQL may then switch it to
    a generic plan: the trap of the generic_plan pathology (rare_tag p100 about 3x slower).

    The connection gets its own settings back on the way out: the other strategies share the
    pool (and its event listeners, which capture and explain's phases rely on).
    """
    dbapi = session.connection().connection.dbapi_connection
    adapters = dbapi.adapters
    jsonb = adapters.types["jsonb"].oid
    saved = dbapi.autocommit, dbapi.prepare_threshold, adapters.get_loader(jsonb, Format.TEXT)
    dbapi.autocommit = True
    dbapi.prepare_threshold = None
    adapters.register_loader(jsonb, OrjsonJsonb)
    try:
        yield
    finally:
        dbapi.autocommit, dbapi.prepare_threshold = saved[:2]
        if saved[2] is not None:
            adapters.register_loader(jsonb, saved[2])


@register
def orm_columns_autocommit(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM session.execute(select(list columns) built once per shape) in autocommit, jsonb by orjson

    The page statement and its SQL are orm_columns_reused's; the session's connection runs
    outside a transaction, decodes jsonb with orjson and never prepares
    (``outside_transaction``).
    """
    params = bound_params(req)
    stmt = STATEMENTS.get("orm_columns", req, _orm_columns_select)
    columns = _columns(req)
    read = itemgetter(*range(len(columns)))
    with ctx.session_factory() as session, outside_transaction(session):
        rows = tuple(read(row) for row in session.execute(stmt, params))
        return Page(columns, rows, _total(session.execute, req, params))


@register
def core_reused(ctx: StrategyContext, req: ContentRequest) -> Page:
    """Core connection.execute(select(Table columns) built once per shape)"""
    params = bound_params(req)
    stmt = STATEMENTS.get("core", req, page_select)
    columns = _columns(req)
    read = itemgetter(*range(len(columns)))
    with ctx.engine.connect() as conn:
        rows = tuple(read(row) for row in conn.execute(stmt, params))
        total = _total(conn.execute, req, params)
    return Page(columns, rows, total)


def _page_sql(req: ContentRequest) -> str:
    return compile_sql(page_select(req)).sql


def _total_sql(req: ContentRequest) -> str:
    return compile_sql(total_select(req)).sql


def dict_rows(ctx: StrategyContext, req: ContentRequest) -> tuple[list[dict[str, Any]], Any]:
    """The page as psycopg dict rows (``dict_row``: keyed by column name), and the total."""
    params = bound_params(req)
    sql = STATEMENTS.get("sql", req, _page_sql)
    conn = ctx.engine.raw_connection()
    try:
        cursor = conn.cursor(row_factory=dict_row)
        cursor.execute(sql, params)
        rows = cursor.fetchall()
        total = None
        if req.with_total:
            cursor.execute(STATEMENTS.get("total_sql", req, _total_sql), params)
            (total,) = cursor.fetchone().values()  # one column, whatever its label
        cursor.close()
    finally:
        conn.close()  # back to the pool, which rolls back like every other strategy's release
    return rows, total


@register
def dbapi_dict_row(ctx: StrategyContext, req: ContentRequest) -> Page:
    """DBAPI psycopg cursor(row_factory=dict_row).fetchall(): rows as dicts"""
    rows, total = dict_rows(ctx, req)
    columns = _columns(req)
    read = itemgetter(*columns)
    return Page(columns, tuple(read(row) for row in rows), total)


class _RawJson(Loader):
    """Hands a json value over as the bytes the server sent: no decoding."""

    def load(self, data: Any) -> bytes:
        return bytes(data)


def server_body_select(req: ContentRequest) -> Select[Any]:
    """The endpoint's whole JSON body, built by PostgreSQL around the page statement.

    ``{"items": [row_to_json of each row, in page order], "page", "page_size", "total"}``:
    ``json``, not ``jsonb``, keeps each row's column order and skips a parse on the server.
    The aggregate repeats the page's order on the subquery (a subquery's order is not a
    promise to the query around it).
    """
    page = page_select(req).subquery("p")
    keys = [page.c[sort_column(req).key], page.c.id]
    order = [k.desc() if req.sort_order == "desc" else k.asc() for k in keys]
    items = func.coalesce(
        func.json_agg(aggregate_order_by(page.table_valued(), *order)),
        literal_column("'[]'::json"),
    )
    total = total_select(req).scalar_subquery() if req.with_total else null()
    return select(
        func.json_build_object(
            literal_column("'items'"),
            items,
            literal_column("'page'"),
            bindparam("page", req.page, type_=Integer),
            literal_column("'page_size'"),
            bindparam("page_size", req.page_size, type_=Integer),
            literal_column("'total'"),
            total,
        )
    )


def _server_body_sql(req: ContentRequest) -> str:
    return compile_sql(server_body_select(req)).sql


def server_body(ctx: StrategyContext, req: ContentRequest) -> bytes:
    """The response body as PostgreSQL built it, passed through as the bytes it sent."""
    params = bound_params(req)
    sql = STATEMENTS.get("server_body", req, _server_body_sql)
    conn = ctx.engine.raw_connection()
    try:
        cursor = conn.cursor()
        cursor.adapters.register_loader("json", _RawJson)
        cursor.execute(sql, params)
        body = cursor.fetchone()[0]
        cursor.close()
    finally:
        conn.close()
    return body


@register
def dbapi_server_json(ctx: StrategyContext, req: ContentRequest) -> Page:
    """DBAPI the page as JSON built by PostgreSQL (json_agg), decoded with orjson"""
    from ormbench.response.decode import decode_body

    return decode_body(server_body(ctx, req), req)


FAST_STRATEGIES: tuple[str, ...] = (
    "orm_scalars_reused",
    "orm_columns_reused",
    "orm_columns_orjson",
    "orm_columns_autocommit",
    "core_reused",
    "dbapi_dict_row",
    "dbapi_server_json",
)

__all__ = [
    "FAST_STRATEGIES",
    "STATEMENTS",
    "OrjsonJsonb",
    "StatementCache",
    "bound_params",
    "dict_rows",
    "json_fragment_select",
    "outside_transaction",
    "server_body",
    "server_body_select",
    "statement_shape",
]
