"""Trap: filtering on JSON keys by extracted text (``jsonb_extract_path_text(item_metadata, 'app')
= 'ios'``, or ``->>``).

No index serves ``item_metadata ->> 'app'``: PostgreSQL walks the newest-first index and tests
each row's JSON, throwing away nearly every row it reads to find a page of rare matches.
explain names the node with the rows its filter threw away against the rows it kept.
Fix: containment (``item_metadata @> '{"app": ...}'``), which the GIN index on
``item_metadata`` serves (or an expression index on the key).
"""

from __future__ import annotations

from sqlalchemy import bindparam, func
from sqlalchemy.dialects.postgresql import JSONB

from ormbench.data.models import ContentItem
from ormbench.query.build import page_select
from ormbench.query.spec import ContentRequest, Page
from ormbench.strategies import StrategyContext, register
from traps._page import entity_page, plain

MECHANISM = "filtered_scan"
SCENARIO = "no_tag"
PAGE_SIZE = 10
# Three settings of the generator that together match about 1 item in 200.
WANTED = {"app": "ios", "sampler": "lms", "scheduler": "karras"}


def _page(ctx: StrategyContext, req: ContentRequest, contains: bool) -> Page:
    req = plain(req)
    stmt = page_select(req, ContentItem)
    column = ContentItem.item_metadata
    if contains:
        stmt = stmt.where(column.op("@>")(bindparam("wanted", WANTED, type_=JSONB)))
    else:
        stmt = stmt.where(
            *(func.jsonb_extract_path_text(column, k) == v for k, v in WANTED.items())
        )
    with ctx.session_factory() as session:
        return entity_page(req, session.execute(stmt).scalars().all())


@register
def trap_json_key_filter(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM page filtered by item_metadata ->> key = value (no index serves it)"""
    return _page(ctx, req, False)


@register
def fix_json_key_filter(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM page filtered by item_metadata @> {...} (the GIN index serves it)"""
    return _page(ctx, req, True)
