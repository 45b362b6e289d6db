"""Trap: ``set_config('enable_indexscan', 'off', true)`` left in from a debugging session.

Without index scans the planner can no longer walk (created_at, id) newest first and stop
after a page: it reads every matching row and sorts them all before the LIMIT. The setting
arrives through ``SELECT set_config(...)``, which explain replays (never explains) before the
page query, so the plan it shows is the one the setting produced.
Fix: drop the setting.
"""

from __future__ import annotations

from sqlalchemy import text

from ormbench.data.models import ContentItem
from ormbench.query.build import page_select
from ormbench.query.spec import ContentRequest, Page
from ormbench.strategies import StrategyContext, register
from traps._page import entity_page, plain

MECHANISM = "sort_before_limit"
SCENARIO = "no_tag"
PAGE_SIZE = 10


def _page(ctx: StrategyContext, req: ContentRequest, debug: bool) -> Page:
    req = plain(req)
    with ctx.session_factory() as session:
        if debug:
            session.execute(text("SELECT set_config('enable_indexscan', 'off', true)"))
        return entity_page(req, session.execute(page_select(req, ContentItem)).scalars().all())


@register
def trap_set_config_plan(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM page after set_config('enable_indexscan', 'off', true)"""
    return _page(ctx, req, True)


@register
def fix_set_config_plan(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM page with the planner's settings untouched"""
    return _page(ctx, req, False)
