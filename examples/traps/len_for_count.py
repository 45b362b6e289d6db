"""Trap: the total as ``len(session.execute(select(ContentItem.id).where(...)).all())``.

Counting in Python fetches one row per match: thousands of rows cross the wire and are built
into Row objects to produce one integer. explain names the rows fetched against the rows
returned.
Fix: ``select(func.count())`` on the server (and cap it, see the catalogue's exact_count).
"""

from __future__ import annotations

from sqlalchemy import func, select

from ormbench.data.models import ContentItem
from ormbench.query.build import filter_criteria, page_select
from ormbench.query.spec import ContentRequest, Page
from ormbench.strategies import StrategyContext, register
from traps._page import entity_page, plain

MECHANISM = "row_multiplication"
SCENARIO = "canonical"
PAGE_SIZE = 10


def _page(ctx: StrategyContext, req: ContentRequest, in_python: bool) -> Page:
    req = plain(req)
    with ctx.session_factory() as session:
        items = session.execute(page_select(req, ContentItem)).scalars().all()
        if in_python:
            ids = select(ContentItem.id).where(*filter_criteria(req))
            total = len(session.execute(ids).all())
        else:
            count = select(func.count()).select_from(ContentItem).where(*filter_criteria(req))
            total = session.execute(count).scalar_one()
        page = entity_page(req, items)
    return Page(page.columns, page.rows, total)


@register
def trap_len_for_count(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM page plus a total counted as len() of every matching id"""
    return _page(ctx, req, True)


@register
def fix_len_for_count(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM page plus a total counted by the server (count(*))"""
    return _page(ctx, req, False)
