"""Turn a ``ContentRequest`` into the statement the production endpoint sends.

One builder serves every layer: ``apply_request`` adds the same WHERE / ORDER BY / LIMIT to
an ORM ``select(ContentItem)``, a ``select()`` of columns, a Core ``select()`` on the Table or
a legacy ``Query``. The SQL text for ``text()`` and the raw psycopg cursor is compiled from that
same Core statement with the psycopg dialect, so the hand-written strategies send byte-for-byte
the statement the ORM sends (tests capture and compare it).

Every value is a named bound parameter (``user_id``, ``tag_0``, ``after_value``, ``limit``...),
so the SQL printed for a user can be rerun in psql with the parameters beside it. Criteria are
built on Core table columns: they compile identically under ORM and Core selects.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any, TypeVar

from sqlalchemy import (
    Integer,
    Select,
    Text,
    TextClause,
    and_,
    bindparam,
    exists,
    func,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.dialects.postgresql import psycopg as psycopg_dialect
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Query
from sqlalchemy.sql.elements import ColumnElement

from ormbench.data.models import LIST_COLUMNS, User, content_items_all, content_tags
from ormbench.query.spec import SOURCE_TYPES, ContentRequest, Cursor

content = content_items_all
users = User.__table__

# Compiled text is cached per request; a benchmark run has a few hundred distinct requests.
SQL_CACHE_SIZE = 1024

_UUID = UUID(as_uuid=True)
_PYFORMAT_PARAM = re.compile(r"%\((\w+)\)s")

StatementT = TypeVar("StatementT", Select[Any], Query[Any])


def source_criteria(req: ContentRequest) -> ColumnElement[bool]:
    """The OR of each requested source type's (partition, creator) test.

    Kept as production writes it (four OR-ed pairs, not simplified), because the planner's
    choice for exactly this shape is what the suite measures.
    """
    user = bindparam("user_id", req.user_id, type_=_UUID)
    # One parameter per partition value, shared by the user and community tests.
    partitions = {
        source: bindparam(f"source_{source.value}", source.value, type_=Text)
        for source, _ in SOURCE_TYPES.values()
    }
    tests = []
    for source_type in req.sources:
        source, mine = SOURCE_TYPES[source_type]
        creator = content.c.creator_id == user if mine else content.c.creator_id != user
        tests.append(and_(content.c.source_type == partitions[source], creator))
    return or_(*tests)


def tag_criteria(
    req: ContentRequest, *, content_source: ColumnElement[Any] | None = None
) -> list[ColumnElement[bool]]:
    """EXISTS on content_tags for the request's tags: one EXISTS (IN) for "any", one per tag
    for "all".

    The link must match the content's partition as well as its id: ids are unique, but the
    (content_id, content_source) index is only usable with both. ``content_source`` replaces
    the content's ``source_type`` in that match; it exists so the correctness tests can plant
    production's vocabulary mismatch and prove the oracle catches it. Leave it None.
    """
    if not req.tags:
        return []
    source = content.c.source_type if content_source is None else content_source
    tags = [bindparam(f"tag_{i}", tag, type_=_UUID) for i, tag in enumerate(req.tags)]

    def linked(tag_test: ColumnElement[bool]) -> ColumnElement[bool]:
        return exists().where(
            content_tags.c.content_id == content.c.id,
            content_tags.c.content_source == source,
            tag_test,
        )

    if req.tag_match == "all" or len(tags) == 1:
        return [linked(content_tags.c.tag_id == tag) for tag in tags]
    return [linked(content_tags.c.tag_id.in_(tags))]


def filter_criteria(
    req: ContentRequest, *, content_source: ColumnElement[Any] | None = None
) -> list[ColumnElement[bool]]:
    """Every filter of the request (sources, tags, privacy); not pagination."""
    criteria = [source_criteria(req), *tag_criteria(req, content_source=content_source)]
    if req.is_private is not None:
        criteria.append(content.c.is_private == bindparam("is_private", req.is_private))
    return criteria


def sort_column(req: ContentRequest) -> ColumnElement[Any]:
    """The whitelisted sort column (the spec has already rejected anything else)."""
    return content.c[req.sort_field]


def order_by(req: ContentRequest, *, tie_breaker: bool = True) -> list[ColumnElement[Any]]:
    """ORDER BY sort field then id, both in the request's direction.

    The id tie-breaker makes the order total, so OFFSET pages neither repeat nor skip rows and
    the keyset row comparison agrees with the order. ``tie_breaker=False`` exists only for the
    tests that plant its omission.
    """
    columns = [sort_column(req)] + ([content.c.id] if tie_breaker else [])
    return [c.desc() if req.sort_order == "desc" else c.asc() for c in columns]


def keyset_criteria(req: ContentRequest) -> list[ColumnElement[bool]]:
    """``(sort, id) < (:after_value, :after_id)`` for desc, ``>`` for asc; empty without cursor.

    A row comparison, not two ORed tests: PostgreSQL turns it into one index range condition
    on (sort, id) indexes.
    """
    if req.after is None:
        return []
    value, item_id = req.after
    row = tuple_(sort_column(req), content.c.id)
    cursor = tuple_(
        bindparam("after_value", value, type_=sort_column(req).type),
        bindparam("after_id", item_id, type_=Integer),
    )
    return [row < cursor if req.sort_order == "desc" else row > cursor]


def paginate(stmt: StatementT, req: ContentRequest) -> StatementT:
    """LIMIT, plus OFFSET for OFFSET pages beyond the first (keyset pages never skip rows)."""
    stmt = stmt.limit(bindparam("limit", req.page_size, type_=Integer))
    if req.offset:
        stmt = stmt.offset(bindparam("offset", req.offset, type_=Integer))
    return stmt


def apply_request(
    stmt: StatementT,
    req: ContentRequest,
    *,
    content_source: ColumnElement[Any] | None = None,
    tie_breaker: bool = True,
) -> StatementT:
    """Add the request's username join, filters, order and page to a select or Query.

    ``stmt`` selects from content_items_all (an entity, columns, or the Table). The keyword
    arguments only serve planted-bug tests; see ``tag_criteria`` and ``order_by``.
    """
    if req.with_username:
        # Inner join, as production: creator_id is NOT NULL with a foreign key.
        stmt = stmt.add_columns(users.c.username).join(users, users.c.id == content.c.creator_id)
    stmt = stmt.where(*filter_criteria(req, content_source=content_source), *keyset_criteria(req))
    stmt = stmt.order_by(*order_by(req, tie_breaker=tie_breaker))
    return paginate(stmt, req)


def page_select(req: ContentRequest, *columns: Any) -> Select[Any]:
    """The page statement selecting ``columns`` (default: the list columns of the Table).

    Pass ``ContentItem`` for entities, or ORM attributes for ORM columns; with_username
    appends ``users.username`` after them.
    """
    selected = columns or tuple(content.c[name] for name in LIST_COLUMNS)
    return apply_request(select(*selected), req)


def total_select(req: ContentRequest) -> Select[tuple[int]]:
    """COUNT(*) over the filtered set: no join, order, cursor or page."""
    return select(func.count()).select_from(content).where(*filter_criteria(req))


def cursor_select(req: ContentRequest) -> Select[Any]:
    """(sort value, id) of every row before ``req``'s OFFSET page, in page order."""
    stmt = select(sort_column(req), content.c.id).where(*filter_criteria(req))
    return stmt.order_by(*order_by(req)).limit(bindparam("limit", req.offset, type_=Integer))


def fetch_cursor(conn: Connection, req: ContentRequest) -> Cursor | None:
    """The keyset cursor that reaches ``req``'s OFFSET page: the previous page's last row.

    None for page 1, or when no row precedes the page (then the keyset page is the first
    page, which is empty exactly when the OFFSET page is). Runs outside any timed region.
    """
    if req.offset == 0:
        return None
    rows = conn.execute(cursor_select(req)).all()
    return (rows[-1][0], rows[-1][1]) if rows else None


@dataclass(frozen=True, eq=False)
class SQLText:
    """A statement as text plus its bound values.

    ``sql`` uses psycopg's ``%(name)s`` placeholders (with SQLAlchemy's ``::TYPE`` casts, as
    the ORM sends it); ``named`` is the same text in ``:name`` style for ``text()``. The two
    compile back to the same string. ``params`` must not be mutated (it is cached).
    """

    sql: str
    params: Mapping[str, Any]

    @cached_property
    def named(self) -> str:
        # text() reads ":name"; escaped colons keep "::UUID" casts from being taken as binds,
        # and "%%" (pyformat's literal percent) becomes "%" again.
        escaped = self.sql.replace("::", r"\:\:")
        return _PYFORMAT_PARAM.sub(r":\1", escaped).replace("%%", "%")

    @cached_property
    def text_clause(self) -> TextClause:
        """``text()`` of this statement, built once (as a hand-written service holds it)."""
        return text(self.named)


_DEFAULT_DIALECT = psycopg_dialect.dialect()


def compile_sql(stmt: Select[Any], dialect: Dialect | None = None) -> SQLText:
    """Compile ``stmt`` with the psycopg dialect into text and bound values."""
    compiled = stmt.compile(dialect=dialect or _DEFAULT_DIALECT)
    params = dict(compiled.params)
    missing = sorted(set(_PYFORMAT_PARAM.findall(compiled.string)) - set(params))
    if missing:  # would only happen if a criterion used an expanding or unnamed parameter
        raise AssertionError(f"compiled SQL has parameters without values: {missing}")
    return SQLText(compiled.string, params)


@lru_cache(maxsize=SQL_CACHE_SIZE)
def page_sql(req: ContentRequest) -> SQLText:
    """Text of ``page_select(req)``: compiled once per request, as a hand-written service
    holds its SQL as a constant (so the text strategies do not pay for compilation)."""
    return compile_sql(page_select(req))


@lru_cache(maxsize=SQL_CACHE_SIZE)
def total_sql(req: ContentRequest) -> SQLText:
    """Text of ``total_select(req)``, cached like ``page_sql``."""
    return compile_sql(total_select(req))


__all__ = [
    "SQLText",
    "apply_request",
    "compile_sql",
    "cursor_select",
    "fetch_cursor",
    "filter_criteria",
    "keyset_criteria",
    "order_by",
    "page_select",
    "page_sql",
    "paginate",
    "sort_column",
    "source_criteria",
    "tag_criteria",
    "total_select",
    "total_sql",
]
