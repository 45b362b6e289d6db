"""Trap: the page loaded through the application's own engine, not the one it was given.

Here the module builds its own engine (a NullPool one, as some apps do per worker) and
queries through it. Nothing of it passes through the engine explain instruments, so explain
sees 0 statements while rows came back: it says so (INCONCLUSIVE), never a guessed layer.
Fix: use the engine you are given (``ctx.engine`` / ``ctx.session_factory``).
"""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from ormbench.data.models import ContentItem
from ormbench.query.build import page_select
from ormbench.query.spec import ContentRequest, Page
from ormbench.strategies import StrategyContext, register
from traps._page import entity_page, plain

MECHANISM = "outside_engine"
SCENARIO = "canonical"
PAGE_SIZE = 10

# The application's own engines, by the URL they copy (created once, as an app would).
_ENGINES: dict[str, Engine] = {}


def _own_engine(ctx: StrategyContext) -> Engine:
    key = ctx.engine.url.render_as_string(hide_password=False)
    if key not in _ENGINES:
        with ctx.engine.connect() as conn:
            search_path = conn.execute(text("SHOW search_path")).scalar_one()
        _ENGINES[key] = create_engine(
            ctx.engine.url,
            poolclass=NullPool,
            connect_args={"options": f"-c search_path={search_path}"},
        )
    return _ENGINES[key]


@register
def trap_own_engine(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM page through the module's own engine (invisible to the given one)"""
    req = plain(req)
    with Session(_own_engine(ctx)) as session:
        return entity_page(req, session.execute(page_select(req, ContentItem)).scalars().all())


@register
def fix_own_engine(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM page through the engine it was given"""
    req = plain(req)
    with ctx.session_factory() as session:
        return entity_page(req, session.execute(page_select(req, ContentItem)).scalars().all())
