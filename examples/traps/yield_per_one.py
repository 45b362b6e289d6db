"""Trap: streaming the page with ``yield_per(1)`` "to keep memory flat".

yield_per uses a server-side cursor and fetches that many rows per round trip: with 1, a
page of 100 rows is a DECLARE, 100 FETCHes and a CLOSE. explain counts the round trips and
prices each with a measured round trip.
Fix: fetch a page in one go (a page is small), or yield_per(1000) for real streams.
"""

from __future__ import annotations

from ormbench.data.models import ContentItem
from ormbench.query.build import page_select
from ormbench.query.spec import ContentRequest, Page
from ormbench.strategies import StrategyContext, register
from traps._page import entity_page, plain

MECHANISM = "round_trips"
SCENARIO = "canonical"
PAGE_SIZE = 100


def _page(ctx: StrategyContext, req: ContentRequest, per: int | None) -> Page:
    req = plain(req)
    stmt = page_select(req, ContentItem)
    if per:
        stmt = stmt.execution_options(yield_per=per)
    with ctx.session_factory() as session:
        return entity_page(req, list(session.execute(stmt).scalars()))


@register
def trap_yield_per_one(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM page streamed with yield_per(1): one FETCH round trip per row"""
    return _page(ctx, req, 1)


@register
def fix_yield_per_one(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM page fetched in one go"""
    return _page(ctx, req, None)
