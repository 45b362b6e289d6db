"""Planted: ``orm_scalars`` lazy-loads every item's tags, one SELECT per row (the N+1).

The classic ORM regression: a template starts showing ``item.tags`` and the default
``lazy='select'`` relationship sends one statement per item. Statements go from 1 to 1 + N
and rows fetched grow with them: the gate's exact tier names it before any timing.
"""

from __future__ import annotations

from ormbench.data.models import LIST_COLUMNS, ContentItem
from ormbench.gate.plants import replace_strategy
from ormbench.query.build import page_select, total_select
from ormbench.query.spec import ContentRequest, Page
from ormbench.strategies import StrategyContext

# The strategy this plant replaces.
TARGET = "orm_scalars"


def orm_scalars(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM session.execute(select(ContentItem)).scalars().all()"""
    with ctx.session_factory() as session:
        result = session.execute(page_select(req, ContentItem))
        pairs = result.all() if req.with_username else [(e, None) for e in result.scalars()]
        rows = []
        for entity, username in pairs:
            len(entity.tags)  # the planted lazy load: one SELECT per item
            row = tuple(getattr(entity, c) for c in LIST_COLUMNS)
            rows.append((*row, username) if req.with_username else row)
        total = session.execute(total_select(req)).scalar_one() if req.with_total else None
    return Page(req.columns, tuple(rows), total)


replace_strategy(TARGET, orm_scalars)
