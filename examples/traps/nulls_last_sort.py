"""Trap: ``ORDER BY created_at DESC NULLS LAST`` "to be safe" on a NOT NULL-in-practice column.

The index is (created_at DESC, id DESC), whose order is DESC NULLS FIRST: NULLS LAST is
another order, so PostgreSQL cannot walk the index and stop after a page; it sorts every
matching row before the LIMIT. explain names the sort with its input rows against the rows
the LIMIT returns.
Fix: order as the index does (or build the index NULLS LAST).
"""

from __future__ import annotations

from ormbench.data.models import ContentItem
from ormbench.query.build import page_select
from ormbench.query.spec import ContentRequest, Page
from ormbench.strategies import StrategyContext, register
from traps._page import entity_page, plain

MECHANISM = "sort_before_limit"
SCENARIO = "no_tag"
PAGE_SIZE = 10


def _page(ctx: StrategyContext, req: ContentRequest, nulls_last: bool) -> Page:
    req = plain(req)
    stmt = page_select(req, ContentItem)
    if nulls_last:
        order = (ContentItem.created_at.desc().nulls_last(), ContentItem.id.desc())
        stmt = stmt.order_by(None).order_by(*order)
    with ctx.session_factory() as session:
        return entity_page(req, session.execute(stmt).scalars().all())


@register
def trap_nulls_last_sort(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM page ordered created_at DESC NULLS LAST (not the index's order)"""
    return _page(ctx, req, True)


@register
def fix_nulls_last_sort(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM page ordered created_at DESC, as the index"""
    return _page(ctx, req, False)
