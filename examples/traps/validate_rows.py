"""Trap: a hand-written recursive validator run over every row's JSON on the way out.

The validator rebuilds ``item_metadata`` and ``content_data`` in Python, checking every key
against a pattern and every text for control characters: a few calls per node, thousands per
page. Like any per-row application code it shows as "row construction" in the phase table;
explain's profile split names the strategy's own module as the owner.
Fix: validate at write time (or with a compiled validator), not on every read.
"""

from __future__ import annotations

import re
from typing import Any

from ormbench.data.models import LIST_COLUMNS, ContentItem
from ormbench.query.build import page_select
from ormbench.query.spec import ContentRequest, Page
from ormbench.strategies import StrategyContext, register
from traps._page import plain

MECHANISM = "application_code"
SCENARIO = "canonical"
PAGE_SIZE = 100


_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# Longest text value accepted (characters).
MAX_TEXT = 10_000


def _clean(value: Any, depth: int = 0) -> Any:
    """A checked copy of ``value``: keys must be identifiers, values JSON, depth bounded."""
    if depth > 32:
        raise ValueError("JSON nested too deep")
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str) or not _KEY.fullmatch(key):
                raise ValueError(f"bad key {key!r}")
            out[key] = _clean(item, depth + 1)
        return out
    if isinstance(value, list):
        return [_clean(item, depth + 1) for item in value]
    if isinstance(value, str):
        if _CONTROL.search(value) or len(value) > MAX_TEXT:
            raise ValueError("control character or oversized text")
        return value
    if isinstance(value, int | float | bool | type(None)):
        return value
    raise ValueError(f"not JSON: {type(value).__name__}")


def _page(ctx: StrategyContext, req: ContentRequest, validate: bool) -> Page:
    req = plain(req)
    columns = [getattr(ContentItem, c) for c in LIST_COLUMNS]
    with ctx.session_factory() as session:
        rows = [tuple(r) for r in session.execute(page_select(req, *columns)).all()]
    if validate:
        json_at = {LIST_COLUMNS.index(c) for c in ("content_data", "item_metadata")}
        rows = [tuple(_clean(v) if i in json_at else v for i, v in enumerate(r)) for r in rows]
    return Page(LIST_COLUMNS, tuple(rows))


@register
def trap_validate_rows(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM columns, each row's JSON validated in Python on the way out"""
    return _page(ctx, req, True)


@register
def fix_validate_rows(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM columns, rows as loaded"""
    return _page(ctx, req, False)
