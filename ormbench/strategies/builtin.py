"""The built-in strategies, most ORM first; each docstring's first line is its label.

All of them send the statement built by ``ormbench.query.build`` (entity strategies select the
entity's columns, which compile to the same SELECT list as the list columns), so they differ
only in how rows travel from psycopg to Python. Every row is turned into a tuple by touching
each loaded column: an ORM attribute read, a Row index or a mapping lookup, as the
corresponding application code would.

The ORM strategies open a Session per call and the others a pooled connection, as a request
handler does; closing returns the connection to the pool (with its rollback) inside the call.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import attrgetter, itemgetter
from typing import Any

from sqlalchemy import func
from sqlalchemy.orm import Session, defer, load_only

from ormbench.data.models import JSON_COLUMNS, LIST_COLUMNS, ContentItem
from ormbench.query.build import (
    apply_request,
    filter_criteria,
    page_select,
    page_sql,
    total_select,
    total_sql,
)
from ormbench.query.spec import USERNAME, ContentRequest, Page
from ormbench.strategies.registry import StrategyContext, register

# Rows fetched per round trip by orm_yield_per (SQLAlchemy's documented example value).
YIELD_PER = 100
# The list view's own columns for orm_load_only: what a card shows (the prototype loaded 7).
LOAD_ONLY_COLUMNS: tuple[str, ...] = (
    "id",
    "source_type",
    "title",
    "content_type",
    "path_thumb",
    "creator_id",
    "created_at",
)
# Columns orm_defer_json loads: every list column but the JSONB ones.
DEFERRED_JSON_COLUMNS: tuple[str, ...] = tuple(c for c in LIST_COLUMNS if c not in JSON_COLUMNS)


def _columns(req: ContentRequest, loaded: Sequence[str] = LIST_COLUMNS) -> tuple[str, ...]:
    return tuple(loaded) + ((USERNAME,) if req.with_username else ())


def _entity_page(
    req: ContentRequest, result: Iterable[Any], loaded: Sequence[str] = LIST_COLUMNS
) -> tuple[tuple[str, ...], tuple[tuple[Any, ...], ...]]:
    """Read ``loaded`` attributes of each entity (plus the username of a joined row)."""
    # attrgetter of several names returns a tuple: one C-level attribute read per column.
    read = attrgetter(*loaded)
    if req.with_username:
        rows = tuple((*read(entity), username) for entity, username in result)
    else:
        rows = tuple(read(entity) for entity in result)
    return _columns(req, loaded), rows


def _orm_total(session: Session, req: ContentRequest) -> int | None:
    return session.execute(total_select(req)).scalar_one() if req.with_total else None


def _entities(session: Session, req: ContentRequest, *options: Any) -> Any:
    """Entities of the page, or (entity, username) rows when the request joins users."""
    stmt = page_select(req, ContentItem).options(*options)
    result = session.execute(stmt)
    return result if req.with_username else result.scalars()


@register
def orm_query_all(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM legacy session.query(ContentItem).all()"""
    with ctx.session_factory() as session:
        columns, rows = _entity_page(req, apply_request(session.query(ContentItem), req).all())
        total = None
        if req.with_total:
            # Not Query.count(): it would count inside the LIMIT; this is total_select's SQL.
            count = session.query(func.count()).select_from(ContentItem)
            total = count.filter(*filter_criteria(req)).scalar()
    return Page(columns, rows, total)


@register
def orm_scalars(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM session.execute(select(ContentItem)).scalars().all()

    With the username joined, rows are (ContentItem, username): .all() instead of .scalars().
    """
    with ctx.session_factory() as session:
        columns, rows = _entity_page(req, _entities(session, req).all())
        return Page(columns, rows, _orm_total(session, req))


@register
def orm_yield_per(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM select(ContentItem) streamed with yield_per(100)"""
    with ctx.session_factory() as session:
        stmt = page_select(req, ContentItem).execution_options(yield_per=YIELD_PER)
        result = session.execute(stmt)
        columns, rows = _entity_page(req, result if req.with_username else result.scalars())
        return Page(columns, rows, _orm_total(session, req))


@register
def orm_defer_json(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM select(ContentItem) with the JSONB columns deferred"""
    deferred = [defer(getattr(ContentItem, c)) for c in JSON_COLUMNS]
    with ctx.session_factory() as session:
        entities = _entities(session, req, *deferred).all()
        columns, rows = _entity_page(req, entities, DEFERRED_JSON_COLUMNS)
        return Page(columns, rows, _orm_total(session, req))


@register
def orm_load_only(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM select(ContentItem) with load_only(the list-view columns)"""
    option = load_only(*(getattr(ContentItem, c) for c in LOAD_ONLY_COLUMNS))
    with ctx.session_factory() as session:
        entities = _entities(session, req, option).all()
        columns, rows = _entity_page(req, entities, LOAD_ONLY_COLUMNS)
        return Page(columns, rows, _orm_total(session, req))


@register
def orm_columns(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM session.execute(select(list columns)) -> Row tuples (production's shape)"""
    attributes = [getattr(ContentItem, c) for c in LIST_COLUMNS]
    with ctx.session_factory() as session:
        result = session.execute(page_select(req, *attributes))
        rows = tuple(tuple(row) for row in result.all())
        return Page(_columns(req), rows, _orm_total(session, req))


@register
def core_select(ctx: StrategyContext, req: ContentRequest) -> Page:
    """Core connection.execute(select(Table columns)).all()"""
    with ctx.engine.connect() as conn:
        rows = tuple(tuple(row) for row in conn.execute(page_select(req)).all())
        total = conn.execute(total_select(req)).scalar_one() if req.with_total else None
    return Page(_columns(req), rows, total)


@register
def core_text(ctx: StrategyContext, req: ContentRequest) -> Page:
    """Core connection.execute(text(SQL)).mappings().all()"""
    sql = page_sql(req)
    columns = _columns(req)
    read = itemgetter(*columns)
    with ctx.engine.connect() as conn:
        rows = tuple(read(m) for m in conn.execute(sql.text_clause, sql.params).mappings().all())
        total = None
        if req.with_total:
            count = total_sql(req)
            total = conn.execute(count.text_clause, count.params).scalar_one()
    return Page(columns, rows, total)


@register
def dbapi_fetchall(ctx: StrategyContext, req: ContentRequest) -> Page:
    """DBAPI psycopg cursor.fetchall() on a pooled connection (the floor)"""
    sql = page_sql(req)
    columns = _columns(req)
    # psycopg rows are already tuples (tuple() would return them untouched): index every
    # column, as the other strategies read every attribute or key.
    read = itemgetter(*range(len(columns)))
    conn = ctx.engine.raw_connection()
    try:
        cursor = conn.cursor()
        cursor.execute(sql.sql, sql.params)
        rows = tuple(read(row) for row in cursor.fetchall())
        total = None
        if req.with_total:
            count = total_sql(req)
            cursor.execute(count.sql, count.params)
            total = cursor.fetchone()[0]
        cursor.close()
    finally:
        conn.close()  # back to the pool, which rolls back like every other strategy's release
    return Page(columns, rows, total)


__all__ = [
    "core_select",
    "core_text",
    "dbapi_fetchall",
    "orm_columns",
    "orm_defer_json",
    "orm_load_only",
    "orm_query_all",
    "orm_scalars",
    "orm_yield_per",
]
