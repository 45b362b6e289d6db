"""Pages of entities with their relationships, the shape the relationship pathologies return.

A list view that shows each item's creator and tags reads ``item.creator.username`` and
``item.tags``; the page carries them as two extra columns so that bad and fixed variants are
held to the same values (the tags as a tuple of names, in the relationship's order).
"""

from __future__ import annotations

from collections.abc import Iterable
from operator import attrgetter

from ormbench.data.models import LIST_COLUMNS, ContentItem
from ormbench.query.spec import ContentRequest, Page

# Extra columns: the creator's username and the tag names, read through the relationships.
CREATOR_COLUMN = "creator_username"
TAGS_COLUMN = "tag_names"

_READ = attrgetter(*LIST_COLUMNS)


def relationship_page(
    req: ContentRequest, items: Iterable[ContentItem], *, creator: bool = True
) -> Page:
    """Every list column of each item, then (optionally) its creator's username, then its
    tag names; touching the relationships is what loads them when they are lazy."""
    columns = (*LIST_COLUMNS, *((CREATOR_COLUMN,) if creator else ()), TAGS_COLUMN)
    rows = []
    for item in items:
        extra = (item.creator.username,) if creator else ()
        rows.append((*_READ(item), *extra, tuple(tag.name for tag in item.tags)))
    return Page(columns, tuple(rows), None)


__all__ = ["CREATOR_COLUMN", "TAGS_COLUMN", "relationship_page"]
