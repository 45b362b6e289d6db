"""Trap: the total count in the page query itself, ``count(*) OVER ()``.

One round trip instead of two looks cheaper, but a window over the whole result must see
every matching row before the LIMIT can hand out the first ten: the newest-first index walk
that stops after a page becomes a read of every match. explain names the node below the LIMIT
that produces every match.
Fix: the page alone (it stops after ten rows) and, if the UI needs it, a separate count that
is capped (see the catalogue's exact_count).
"""

from __future__ import annotations

from sqlalchemy import func

from ormbench.data.models import ContentItem
from ormbench.query.build import page_select, total_select
from ormbench.query.spec import ContentRequest, Page
from ormbench.strategies import StrategyContext, register
from traps._page import entity_page, plain

MECHANISM = "rows_below_limit"
SCENARIO = "no_tag"
PAGE_SIZE = 10


@register
def trap_window_total(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM page with count(*) OVER () for the total, in one statement"""
    req = plain(req)
    with ctx.session_factory() as session:
        rows = session.execute(page_select(req, ContentItem, func.count().over())).all()
        page = entity_page(req, [item for item, _ in rows])
        return Page(page.columns, page.rows, rows[0][1] if rows else 0)


@register
def fix_window_total(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM page, then count(*) in a statement of its own"""
    req = plain(req)
    with ctx.session_factory() as session:
        page = entity_page(req, session.execute(page_select(req, ContentItem)).scalars().all())
        return Page(page.columns, page.rows, session.execute(total_select(req)).scalar_one())
