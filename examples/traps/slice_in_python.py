"""Trap: paginating in Python: every matching row fetched, then ``rows[offset:offset + size]``.

The statement has no LIMIT, so the server sends every match over the wire and psycopg and the
ORM build them all, for a page of ten. explain names the rows fetched against the rows
returned.
Fix: LIMIT and OFFSET (or a keyset) in the SQL.
"""

from __future__ import annotations

from ormbench.data.models import LIST_COLUMNS, ContentItem
from ormbench.query.build import page_select
from ormbench.query.spec import ContentRequest, Page
from ormbench.strategies import StrategyContext, register
from traps._page import plain, row_page

MECHANISM = "row_multiplication"
SCENARIO = "canonical"
PAGE_SIZE = 10


def _columns() -> list[object]:
    return [getattr(ContentItem, c) for c in LIST_COLUMNS]


@register
def trap_slice_in_python(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM columns of every match (no LIMIT), sliced to the page in Python"""
    req = plain(req)
    stmt = page_select(req, *_columns()).limit(None).offset(None)
    with ctx.session_factory() as session:
        rows = session.execute(stmt).all()
    return row_page(rows[req.offset : req.offset + req.page_size])


@register
def fix_slice_in_python(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM columns of the page (LIMIT in the SQL)"""
    req = plain(req)
    with ctx.session_factory() as session:
        return row_page(session.execute(page_select(req, *_columns())).all())
