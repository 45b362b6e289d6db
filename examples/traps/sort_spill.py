"""Trap: ``SET LOCAL work_mem = '64kB'`` "to keep memory low" before a sorted page.

The page sorts by title (no index serves it), a bounded sort of 100 wide rows: with the
default work_mem it is a top-N heapsort in memory; with 64kB it no longer fits and becomes an
external merge sort writing temp blocks. explain replays the SET LOCAL before the query, so
the plan it shows is the one that ran, and names the spill with the work_mem in force.
Fix: leave work_mem alone (or raise it for this transaction only when a sort needs it).
"""

from __future__ import annotations

from sqlalchemy import text

from ormbench.data.models import ContentItem
from ormbench.query.build import page_select
from ormbench.query.spec import ContentRequest, Page
from ormbench.strategies import StrategyContext, register
from traps._page import entity_page, plain

MECHANISM = "spill"
SCENARIO = "no_tag"
PAGE_SIZE = 100


def _page(ctx: StrategyContext, req: ContentRequest, work_mem: str | None) -> Page:
    req = plain(req)
    stmt = page_select(req, ContentItem).order_by(None).order_by(ContentItem.title, ContentItem.id)
    with ctx.session_factory() as session:
        if work_mem:
            session.execute(text(f"SET LOCAL work_mem = '{work_mem}'"))
        return entity_page(req, session.execute(stmt).scalars().all())


@register
def trap_sort_spill(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM page sorted by title after SET LOCAL work_mem = '64kB' (the sort spills)"""
    return _page(ctx, req, "64kB")


@register
def fix_sort_spill(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM page sorted by title with the server's work_mem (a top-N sort in memory)"""
    return _page(ctx, req, None)
