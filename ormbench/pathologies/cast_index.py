"""5. A cast on an indexed column: ``creator_id::text = :user`` on a user-only feed.

Comparing the uuid column as text (a common way to "fix" a type mismatch between a str and a
uuid) makes the predicate an expression over the column; no index on ``creator_id`` can
answer it. For a typical creator (a few dozen items) the typed comparison reads the creator's
items through ``(creator_id, created_at DESC)`` and sorts a handful; the cast walks the whole
``(created_at, id)`` index of both partitions, testing every row, until it has a page.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, Text, and_, bindparam, cast, or_, select, text
from sqlalchemy.sql.elements import ColumnElement

from ormbench.data.models import ContentItem
from ormbench.data.roles import Roles
from ormbench.pathologies.base import Pathology, Variant
from ormbench.query import build
from ormbench.query.scenarios import build_request
from ormbench.query.spec import SOURCE_TYPES, ContentRequest, Page
from ormbench.strategies import StrategyContext, get_strategy

# A full first page of the user-only feed.
PAGE_SIZE = 10


def typical_creator(conn: Connection) -> Any:
    """The creator with the median number of items (smallest id among ties): the feed of an
    ordinary user, not of the power user the canonical scenarios follow."""
    return conn.execute(
        text(
            "WITH counts AS (SELECT creator_id, count(*) AS n FROM content_items_all "
            "GROUP BY creator_id) "
            "SELECT creator_id FROM counts WHERE n = "
            "(SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY n) FROM counts) "
            "ORDER BY creator_id LIMIT 1"
        )
    ).scalar_one()


def request(conn: Connection, roles: Roles) -> ContentRequest:
    """user_only (popular tag, username) for a typical creator, 10 per page"""
    return replace(build_request("user_only", roles, PAGE_SIZE), user_id=typical_creator(conn))


def _cast_source_criteria(req: ContentRequest) -> ColumnElement[bool]:
    # build.source_criteria with the creator compared as text, as the trap writes it.
    content = build.content
    user = bindparam("user_text", str(req.user_id), type_=Text)
    tests = []
    for source_type in req.sources:
        source, mine = SOURCE_TYPES[source_type]
        creator = cast(content.c.creator_id, Text)
        test = creator == user if mine else creator != user
        tests.append(and_(content.c.source_type == source.value, test))
    return or_(*tests)


def orm_columns_cast_creator(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM select(list columns) with creator_id::text = :user (index unusable)"""
    columns = [getattr(ContentItem, c) for c in req.columns if c != "username"]
    stmt = select(*columns)
    if req.with_username:
        users = build.users
        stmt = stmt.add_columns(users.c.username).join(
            users, users.c.id == build.content.c.creator_id
        )
    stmt = stmt.where(_cast_source_criteria(req), *build.tag_criteria(req))
    stmt = build.paginate(stmt.order_by(*build.order_by(req)), req)
    with ctx.session_factory() as session:
        rows = tuple(tuple(row) for row in session.execute(stmt).all())
    return Page(req.columns, rows, None)


PATHOLOGY = Pathology(
    number=5,
    name="cast_index",
    title="A cast on an indexed column",
    mechanism=("creator_id::text = :user: no creator_id index applies, the feed walks created_at"),
    diagnosis="no index on creator_id in the plan (the typed comparison uses one)",
    request=request,
    bad=Variant(orm_columns_cast_creator),
    fixed=Variant(get_strategy("orm_columns")),
)
