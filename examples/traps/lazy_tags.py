"""Trap: reading ``item.tags`` on a page loaded without a loader option for the collection.

``tags`` is ``lazy='select'``: the first read of each item's collection sends one statement,
so a page of N items costs 1 + N statements (an N+1), each a round trip and a compile. explain
groups the N statements by normalized SQL and names the statement that caused them.
Fix: ``selectinload(ContentItem.tags)``: one more statement for the whole page.
"""

from __future__ import annotations

from sqlalchemy.orm import selectinload

from ormbench.data.models import ContentItem
from ormbench.query.build import page_select
from ormbench.query.spec import ContentRequest, Page
from ormbench.strategies import StrategyContext, register
from traps._page import entity_page, plain

MECHANISM = "n_plus_one"
SCENARIO = "canonical"
PAGE_SIZE = 25


def _page(ctx: StrategyContext, req: ContentRequest, *options: object) -> Page:
    req = plain(req)
    with ctx.session_factory() as session:
        items = session.execute(page_select(req, ContentItem).options(*options)).scalars().all()
        names = [tuple(t.name for t in item.tags) for item in items]
        return entity_page(req, items, names)


@register
def trap_lazy_tags(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM page, then item.tags lazy-loaded per item (1 + N statements)"""
    return _page(ctx, req)


@register
def fix_lazy_tags(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM page with selectinload(tags) (2 statements)"""
    return _page(ctx, req, selectinload(ContentItem.tags))
