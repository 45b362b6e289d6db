"""Trap: committing (an audit row, a "last seen" touch) before building the response.

``expire_on_commit`` (the default) expires every object of the Session at COMMIT; reading an
attribute afterwards refreshes that object by its primary key, one statement per object. The
page of N items becomes 1 + N statements, the N after the commit. explain names the refresh
with the commit that caused it.
Fix: build the response before committing, or ``sessionmaker(expire_on_commit=False)``.
"""

from __future__ import annotations

from sqlalchemy.orm import sessionmaker

from ormbench.data.models import ContentItem
from ormbench.query.build import page_select
from ormbench.query.spec import ContentRequest, Page
from ormbench.strategies import StrategyContext, register
from traps._page import entity_page, plain

MECHANISM = "refresh_after_commit"
SCENARIO = "no_tag"
PAGE_SIZE = 25


@register
def trap_refresh_after_commit(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM page, session.commit(), then the attributes read (refreshed one by one)"""
    req = plain(req)
    with ctx.session_factory() as session:
        items = session.execute(page_select(req, ContentItem)).scalars().all()
        session.commit()
        return entity_page(req, items)


@register
def fix_refresh_after_commit(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM page, session.commit() with expire_on_commit=False, then the attributes read"""
    req = plain(req)
    with sessionmaker(ctx.engine, expire_on_commit=False)() as session:
        items = session.execute(page_select(req, ContentItem)).scalars().all()
        session.commit()
        return entity_page(req, items)
