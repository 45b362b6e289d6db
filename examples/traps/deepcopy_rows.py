"""Trap: ``copy.deepcopy`` of every row's JSON "so the response cannot alias the ORM's state".

deepcopy walks every nested dict and list of ``item_metadata`` in Python: tens of calls per
value, far more than the ORM spends building the objects. The time is the application's, not
SQLAlchemy's: explain splits the profile's Python time by owner (standard-library calls count
for the code that made them) and names the strategy's own module.
Fix: no copy (the loaded JSON is already private to the request), or copy what you mutate.
"""

from __future__ import annotations

import copy

from ormbench.data.models import LIST_COLUMNS, ContentItem
from ormbench.query.build import page_select
from ormbench.query.spec import ContentRequest, Page
from ormbench.strategies import StrategyContext, register
from traps._page import plain

MECHANISM = "application_code"
SCENARIO = "canonical"
PAGE_SIZE = 100


def _page(ctx: StrategyContext, req: ContentRequest, deep: bool) -> Page:
    req = plain(req)
    columns = [getattr(ContentItem, c) for c in LIST_COLUMNS]
    with ctx.session_factory() as session:
        rows = session.execute(page_select(req, *columns)).all()
    if deep:
        return Page(LIST_COLUMNS, tuple(copy.deepcopy(tuple(r)) for r in rows))
    return Page(LIST_COLUMNS, tuple(tuple(r) for r in rows))


@register
def trap_deepcopy_rows(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM columns, each row deep-copied in Python"""
    return _page(ctx, req, True)


@register
def fix_deepcopy_rows(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM columns, rows as loaded"""
    return _page(ctx, req, False)
