"""Trap: a custom ``TypeDecorator`` without ``cache_ok = True`` in the select list.

SQLAlchemy cannot build a cache key for a statement holding a type that does not declare
itself cacheable (it warns once), so it compiles the statement on every execution. explain
names the compiled-cache status of the warm execution.
Fix: ``cache_ok = True`` on the type (when its state is hashable and fixed).
"""

from __future__ import annotations

import warnings
from typing import Any

from sqlalchemy import String, type_coerce
from sqlalchemy.exc import SAWarning
from sqlalchemy.types import TypeDecorator

from ormbench.data.models import LIST_COLUMNS, ContentItem
from ormbench.query.build import page_select
from ormbench.query.spec import ContentRequest, Page
from ormbench.strategies import StrategyContext, register
from traps._page import plain, row_page

MECHANISM = "compiled_cache_miss"
SCENARIO = "canonical"
PAGE_SIZE = 10


class StrippedText(TypeDecorator[str]):
    """Text, stripped on the way out (no cache_ok: SQLAlchemy will not cache statements)."""

    impl = String

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return value.strip() if value is not None else None


class CachedStrippedText(StrippedText):
    """The same type, declared cacheable."""

    cache_ok = True


def _page(ctx: StrategyContext, req: ContentRequest, kind: type[StrippedText]) -> Page:
    req = plain(req)
    columns = [
        type_coerce(ContentItem.title, kind()).label("title")
        if c == "title"
        else getattr(ContentItem, c)
        for c in LIST_COLUMNS
    ]
    with ctx.session_factory() as session, warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)  # the warning is the trap's symptom
        return row_page(session.execute(page_select(req, *columns)).all())


@register
def trap_uncacheable_type(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM columns with a TypeDecorator lacking cache_ok (compiled every time)"""
    return _page(ctx, req, StrippedText)


@register
def fix_uncacheable_type(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM columns with the same TypeDecorator, cache_ok = True"""
    return _page(ctx, req, CachedStrippedText)
