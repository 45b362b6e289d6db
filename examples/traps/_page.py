"""Shared mechanics of the traps: the list columns as a Page, from entities or rows."""

from __future__ import annotations

from collections.abc import Iterable
from operator import attrgetter
from typing import Any

from ormbench.data.models import LIST_COLUMNS
from ormbench.query.spec import ContentRequest, Page

_READ = attrgetter(*LIST_COLUMNS)


def entity_page(req: ContentRequest, entities: Iterable[Any], extra: Iterable[Any] = ()) -> Page:
    """One row of the list columns per entity (plus an extra column when given)."""
    extra = list(extra)
    if extra:
        rows = tuple((*_READ(e), x) for e, x in zip(entities, extra, strict=True))
        return Page((*LIST_COLUMNS, "extra"), rows)
    return Page(LIST_COLUMNS, tuple(_READ(e) for e in entities))


def row_page(rows: Iterable[Any]) -> Page:
    """Rows of the list columns, as tuples."""
    return Page(LIST_COLUMNS, tuple(tuple(r) for r in rows))


def plain(req: ContentRequest) -> ContentRequest:
    """The request without the username join: the traps read the creator their own way."""
    from dataclasses import replace

    return replace(req, with_username=False, with_total=False)
