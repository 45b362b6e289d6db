"""Trap: ``engine.dispose()`` at the end of every request, "to release connections".

Disposing closes the pool's connections: the next request connects again, a new server
backend each time (fork, authentication, catalog caches cold). explain counts the pool's
connect events on a warm execution and puts the time in "pool and connection".
Fix: keep the pool; dispose only at shutdown (or after a fork).
"""

from __future__ import annotations

from ormbench.data.models import ContentItem
from ormbench.query.build import page_select
from ormbench.query.spec import ContentRequest, Page
from ormbench.strategies import StrategyContext, register
from traps._page import entity_page, plain

MECHANISM = "new_connection"
SCENARIO = "canonical"
PAGE_SIZE = 10


def _page(ctx: StrategyContext, req: ContentRequest) -> Page:
    req = plain(req)
    with ctx.session_factory() as session:
        return entity_page(req, session.execute(page_select(req, ContentItem)).scalars().all())


@register
def trap_dispose_per_request(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM page, then engine.dispose() (the next request connects anew)"""
    try:
        return _page(ctx, req)
    finally:
        ctx.engine.dispose()


@register
def fix_dispose_per_request(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM page on the pooled connection"""
    return _page(ctx, req)
