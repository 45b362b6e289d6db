"""The unified content endpoint's response model (Pydantic v2), as FastAPI validates it.

Field order is the list view's column order (``LIST_COLUMNS``), then the creator's username,
so every body renders its keys in one order. ``from_attributes`` lets the model read ORM
entities and SQLAlchemy Rows, as FastAPI's ``response_model`` does with what a handler returns.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter


class ContentListItem(BaseModel):
    """One card of the list view: every list column, plus the creator's username when the
    request joins users (null otherwise)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    source_type: str
    title: str
    content_type: str
    content_data: dict[str, Any]
    path_thumb: str | None
    path_thumbs_alt_res: dict[str, Any] | None
    prompt: str | None
    item_metadata: dict[str, Any]
    creator_id: uuid.UUID
    created_at: dt.datetime
    updated_at: dt.datetime
    quality_score: float
    is_private: bool
    username: str | None = None


class ContentListResponse(BaseModel):
    """The endpoint's body: the page's items, the page asked for, and the total if asked."""

    model_config = ConfigDict(from_attributes=True)

    items: list[ContentListItem]
    page: int
    page_size: int
    total: int | None = None


# What FastAPI builds from ``response_model=ContentListResponse`` (fastapi._compat.v2.ModelField
# wraps the annotation in a TypeAdapter): built once, as FastAPI does per route.
RESPONSE_ADAPTER: TypeAdapter[ContentListResponse] = TypeAdapter(ContentListResponse)

__all__ = ["RESPONSE_ADAPTER", "ContentListItem", "ContentListResponse"]
