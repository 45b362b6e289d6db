"""Trap: a "case-insensitive" total, ``count(*) ... WHERE lower(content_type) = lower(:type)``.

The planner has statistics for ``content_type`` but none for ``lower(content_type)``: an
equality on an expression gets the default selectivity of 0.5%, a couple of hundred rows,
where thousands match. A misestimate that size is how bad join orders and undersized hashes
start; explain names the node, its estimated and actual rows, and the factor.
Fix: compare the column (store it normalized), or create an index (with statistics) on
``lower(content_type)``.
"""

from __future__ import annotations

from sqlalchemy import func, select

from ormbench.data.models import ContentItem
from ormbench.query.build import page_select
from ormbench.query.spec import ContentRequest, Page
from ormbench.strategies import StrategyContext, register
from traps._page import entity_page, plain

MECHANISM = "misestimate"
SCENARIO = "no_tag"
PAGE_SIZE = 10
# The content type counted: one of several, neither the most common nor rare.
CONTENT_TYPE = "Video"


def _page(ctx: StrategyContext, req: ContentRequest, lowered: bool) -> Page:
    req = plain(req)
    wanted = (
        func.lower(ContentItem.content_type) == func.lower(CONTENT_TYPE)
        if lowered
        else ContentItem.content_type == CONTENT_TYPE.lower()
    )
    count = select(func.count()).select_from(ContentItem).where(wanted)
    with ctx.session_factory() as session:
        items = session.execute(page_select(req, ContentItem)).scalars().all()
        total = session.execute(count).scalar_one()
        page = entity_page(req, items)
    return Page(page.columns, page.rows, total)


@register
def trap_lower_count(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM page plus a total of one content type by lower(content_type) = lower(:type)"""
    return _page(ctx, req, True)


@register
def fix_lower_count(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM page plus a total of one content type by content_type = :type"""
    return _page(ctx, req, False)
