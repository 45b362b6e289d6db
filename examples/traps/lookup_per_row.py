"""Trap: a hand-written lookup per row (the creator's username by id, in a loop).

No relationship is involved, so no loader option can fix it: the loop sends one SELECT per
row, 1 + N statements. explain groups them by normalized SQL (one statement, N parameters)
and names the page statement whose rows drove them.
Fix: one query with the join (or one ``IN`` lookup for the page's creator ids).
"""

from __future__ import annotations

from sqlalchemy import select

from ormbench.data.models import ContentItem, User
from ormbench.query.build import page_select
from ormbench.query.spec import ContentRequest, Page
from ormbench.strategies import StrategyContext, register
from traps._page import entity_page, plain

MECHANISM = "n_plus_one"
SCENARIO = "canonical"
PAGE_SIZE = 25


@register
def trap_lookup_per_row(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM page, then one SELECT users.username per row"""
    req = plain(req)
    with ctx.session_factory() as session:
        items = session.execute(page_select(req, ContentItem)).scalars().all()
        names = [
            session.execute(select(User.username).where(User.id == item.creator_id)).scalar_one()
            for item in items
        ]
        return entity_page(req, items, names)


@register
def fix_lookup_per_row(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM page, then one SELECT of the page's creators by id IN (...)"""
    req = plain(req)
    with ctx.session_factory() as session:
        items = session.execute(page_select(req, ContentItem)).scalars().all()
        ids = {item.creator_id for item in items}
        names = dict(session.execute(select(User.id, User.username).where(User.id.in_(ids))).all())
        return entity_page(req, items, [names[item.creator_id] for item in items])
