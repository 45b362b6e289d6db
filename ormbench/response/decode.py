"""Read a response body back into a ``Page``, strictly, to check it against the oracle.

Independent of every renderer: the body is parsed with the standard library's json and each
value is checked against the JSON type the schema promises, then converted to the type
PostgreSQL returns (UUID and timestamp from their text, float from a JSON number). Anything
else (a missing or extra key, a string id, an aware timestamp, another page) is an error.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from typing import Any

from ormbench.data.models import JSON_COLUMNS, LIST_COLUMNS
from ormbench.query.spec import USERNAME, ContentRequest, Page


class BodyError(ValueError):
    """A body that is not the endpoint's response to the request."""


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BodyError(f"expected an integer, got {value!r}")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise BodyError(f"expected a string, got {value!r}")
    return value


def _optional(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else parse(value)


def _uuid(value: Any) -> uuid.UUID:
    return uuid.UUID(_str(value))


def _timestamp(value: Any) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(_str(value))
    if parsed.tzinfo is not None:
        raise BodyError(f"timestamp without time zone rendered with one: {value!r}")
    return parsed


def _float(value: Any) -> float:
    # PostgreSQL renders a float8 of 2.0 as 2; Pydantic and orjson as 2.0: both are the number.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BodyError(f"expected a number, got {value!r}")
    return float(value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise BodyError(f"expected true or false, got {value!r}")
    return value


def _json(value: Any) -> Any:
    return value


# Decoder of each item field, by name.
FIELDS: dict[str, Callable[[Any], Any]] = {
    "id": _int,
    "source_type": _str,
    "title": _str,
    "content_type": _str,
    "path_thumb": _optional(_str),
    "prompt": _optional(_str),
    "creator_id": _uuid,
    "created_at": _timestamp,
    "updated_at": _timestamp,
    "quality_score": _float,
    "is_private": _bool,
    USERNAME: _str,
    **dict.fromkeys(JSON_COLUMNS, _json),
}
assert set(FIELDS) == {*LIST_COLUMNS, USERNAME}


def decode_body(body: bytes, req: ContentRequest) -> Page:
    """The page a body carries, in ``req.columns`` order; BodyError if it is not exactly
    the response to ``req`` (keys, types, page and page size)."""
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise BodyError(f"body is not JSON: {exc}") from None
    if not isinstance(doc, dict) or set(doc) != {"items", "page", "page_size", "total"}:
        raise BodyError(f"body is not a page envelope: {str(doc)[:80]!r}")
    if (doc["page"], doc["page_size"]) != (req.page, req.page_size):
        raise BodyError(
            f"body is page {doc['page']!r} of size {doc['page_size']!r}, "
            f"requested {req.page} of {req.page_size}"
        )
    total = None if doc["total"] is None else _int(doc["total"])
    columns = req.columns
    decoders = [FIELDS[c] for c in columns]
    rows = []
    for n, item in enumerate(_list(doc["items"])):
        if not isinstance(item, dict):
            raise BodyError(f"item {n} is not an object: {item!r}")
        keys = set(item)
        if not req.with_username and item.get(USERNAME, None) is None:
            keys.discard(USERNAME)  # the schema's null username of a page without the join
        if keys != set(columns):
            raise BodyError(f"item {n} has keys {sorted(keys)}, expected {sorted(columns)}")
        try:
            rows.append(tuple(d(item[c]) for c, d in zip(columns, decoders, strict=True)))
        except (BodyError, ValueError) as exc:
            raise BodyError(f"item {n}: {exc}") from None
    return Page(columns, tuple(rows), total)


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise BodyError(f"items is not a list: {value!r}")
    return value


__all__ = ["FIELDS", "BodyError", "decode_body"]
