"""Trap: "is there anything?" before fetching: the same query sent twice.

``if session.execute(stmt).first(): rows = session.execute(stmt).all()`` runs the page query,
throws its rows away, and runs it again. explain names the two statements with the same SQL
and the same parameters.
Fix: fetch once; an empty list is the answer to "is there anything".
"""

from __future__ import annotations

from ormbench.data.models import ContentItem
from ormbench.query.build import page_select
from ormbench.query.spec import ContentRequest, Page
from ormbench.strategies import StrategyContext, register
from traps._page import entity_page, plain

MECHANISM = "repeated_query"
SCENARIO = "canonical"
PAGE_SIZE = 25


@register
def trap_query_twice(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM page query run once to test for rows, then again to fetch them"""
    req = plain(req)
    stmt = page_select(req, ContentItem)
    with ctx.session_factory() as session:
        items = session.execute(stmt).scalars().all() if session.execute(stmt).first() else []
        return entity_page(req, items)


@register
def fix_query_twice(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM page query run once"""
    req = plain(req)
    with ctx.session_factory() as session:
        return entity_page(req, session.execute(page_select(req, ContentItem)).scalars().all())
