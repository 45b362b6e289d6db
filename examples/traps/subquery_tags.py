"""Trap: ``subqueryload(ContentItem.tags)`` for the page's tags.

subqueryload sends the page query a second time, as a subquery of the tags statement: the
server runs the page (its filters, its sort, its LIMIT) twice. explain names the second
statement as running the first one's query again inside it.
Fix: ``selectinload``, which sends the page's ids instead of its query.
"""

from __future__ import annotations

from sqlalchemy.orm import selectinload, subqueryload

from ormbench.data.models import ContentItem
from ormbench.query.build import page_select
from ormbench.query.spec import ContentRequest, Page
from ormbench.strategies import StrategyContext, register
from traps._page import entity_page, plain

MECHANISM = "repeated_query"
SCENARIO = "canonical"
PAGE_SIZE = 25


def _page(ctx: StrategyContext, req: ContentRequest, option: object) -> Page:
    req = plain(req)
    with ctx.session_factory() as session:
        items = session.execute(page_select(req, ContentItem).options(option)).scalars().all()
        return entity_page(req, items, [tuple(t.name for t in i.tags) for i in items])


@register
def trap_subquery_tags(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM page with subqueryload(tags): the page query runs again as a subquery"""
    return _page(ctx, req, subqueryload(ContentItem.tags))


@register
def fix_subquery_tags(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM page with selectinload(tags): the page's ids, not its query"""
    return _page(ctx, req, selectinload(ContentItem.tags))
