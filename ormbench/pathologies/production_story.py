"""9. The production story: "the ORM is 700x slower than psql".

The service's ORM code built a different statement from the SQL the team ran in psql:

* an extra ``JOIN users`` (for the username), on every request;
* a redundant ``source_type IN ('items', 'auto')`` before the four source tests;
* an EXISTS on content_tags that matches the content id but not its partition;
* ``LIMIT :limit OFFSET :offset`` as bound parameters, page 1 included (OFFSET 0).

It ran on the service's long-lived connections, where sessions end with COMMIT, so psycopg
keeps its prepared statements (pathology 1): after the endpoint's earlier traffic (deep pages
of other tags) PostgreSQL serves this statement from its generic plan. With OFFSET an unknown
parameter that plan reads every link of the tag and sorts the matches, for page 1 too.

The hand-written SQL timed in psql had literal values (always a custom plan), no join, no
OFFSET, and an EXISTS that compares ``content_source`` with ``source_type``. In production the
two columns used different words for the regular partition ('regular' vs 'items'), so that
EXISTS silently dropped every regular item: psql's fast answer was also a wrong one. The suite
keeps one vocabulary, so the hand-written SQL here plants the mismatch the way the correctness
tests do (``build.tag_criteria(content_source=...)``), and the oracle catches it.

The difference is SQL and plan, on the server; ``ormbench explain`` names both.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Integer, Select, bindparam, case, exists, literal, select

from ormbench.data.models import LIST_COLUMNS, ContentItem, Source, User, content_tags
from ormbench.data.roles import Roles
from ormbench.pathologies.base import ConnectionSpec, Pathology, Variant
from ormbench.pathologies.generic_plan import PRIME_EXECUTIONS, early_request
from ormbench.query import build
from ormbench.query.build import compile_sql
from ormbench.query.scenarios import build_request
from ormbench.query.spec import ContentRequest, Page
from ormbench.strategies import StrategyContext

# The production request at 50 per page (a size the endpoint serves): the first size whose
# page 1 holds regular items on canonical, so the hand-written SQL's loss shows on it.
PAGE_SIZE = 50


def request(conn: Connection, roles: Roles) -> ContentRequest:
    """canonical at 50 per page: the production URL (four sources, user, popular tag)"""
    return build_request("canonical", roles, PAGE_SIZE)


def production_select(req: ContentRequest) -> Select[Any]:
    """The statement the production service's ORM code built for ``req``."""
    content = build.content
    tags = [
        exists().where(
            content_tags.c.content_id == content.c.id,  # no partition match
            content_tags.c.tag_id == bindparam(f"tag_{i}", tag, type_=content_tags.c.tag_id.type),
        )
        for i, tag in enumerate(req.tags)
    ]
    stmt = (
        select(*(getattr(ContentItem, c) for c in LIST_COLUMNS), User.username)
        .join(User, User.id == ContentItem.creator_id)
        .where(
            content.c.source_type.in_([s.value for s in Source]),
            build.source_criteria(req),
            *tags,
        )
        .order_by(*build.order_by(req))
        .limit(bindparam("limit", req.page_size, type_=Integer))
        .offset(bindparam("offset", req.offset, type_=Integer))
    )
    return stmt


def handwritten_select(req: ContentRequest) -> Select[Any]:
    """The SQL written by hand for psql: no join, no OFFSET, EXISTS on id and partition, the
    partition in production's other vocabulary ('regular' for 'items')."""
    source = build.content.c.source_type
    wrong = case((source == literal(Source.ITEMS.value), literal("regular")), else_=source)
    columns = [build.content.c[c] for c in LIST_COLUMNS]
    stmt = select(*columns).where(*build.filter_criteria(req, content_source=wrong))
    return stmt.order_by(*build.order_by(req)).limit(req.page_size)


def orm_production_statement(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM select(list columns, username) as the production service built it

    JOIN users, a redundant IN, an EXISTS without the partition match, LIMIT and OFFSET.
    """
    with ctx.session_factory() as session:
        rows = tuple(tuple(row) for row in session.execute(production_select(req)).all())
    return Page((*LIST_COLUMNS, "username"), rows, None)


def dbapi_handwritten_sql(ctx: StrategyContext, req: ContentRequest) -> Page:
    """DBAPI cursor on the SQL hand-written for psql

    No join, no OFFSET, the partition match in production's other vocabulary.
    """
    sql = compile_sql(handwritten_select(req))
    conn = ctx.engine.raw_connection()
    try:
        cursor = conn.cursor()
        cursor.execute(sql.sql, sql.params)
        rows = tuple(tuple(row) for row in cursor.fetchall())
        cursor.close()
    finally:
        conn.close()
    return Page(LIST_COLUMNS, rows, None)


PATHOLOGY = Pathology(
    number=9,
    name="production_story",
    title='The production story: "the ORM is 700x slower than psql"',
    mechanism=(
        "other SQL (JOIN users, redundant IN, partition-less EXISTS, OFFSET) from a generic "
        "plan, against psql's custom plan of SQL that dropped the regular items"
    ),
    diagnosis=(
        "different SQL, different plan, time on the server; the oracle flags the "
        "hand-written SQL's missing regular items"
    ),
    request=request,
    bad=Variant(
        orm_production_statement,
        ConnectionSpec(
            autocommit=True,
            prime=early_request,
            prime_executions=PRIME_EXECUTIONS,
            expect_generic=True,
        ),
    ),
    fixed=Variant(dbapi_handwritten_sql),
    same_rows=False,
)
