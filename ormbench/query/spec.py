"""The unified content request as data, and the page every strategy returns.

``ContentRequest`` is the whitelist: it only ever holds typed values (UUIDs, ints, one of a few
known words), so no value a client sends can become SQL text. The builder turns every value
into a bound parameter; this module only decides whether a request is acceptable.

``Page`` is the one comparable shape every strategy and the oracle return. Strategies that load
fewer columns on purpose (deferred JSON, load_only) say so in ``Page.columns``; equality checks
compare exactly the columns a page carries (see ``Page.diff``).
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Literal

from ormbench.data.models import LIST_COLUMNS, Source
from ormbench.errors import QuerySpecError

# Largest page the endpoint serves; 1000 is the benchmark's "large" variant.
MAX_PAGE_SIZE = 1000
# Deepest page accepted; keeps OFFSET below page * page_size = 10 million rows.
MAX_PAGE = 10_000
# Most tags one request may filter on; each "all" tag adds one EXISTS to the statement.
MAX_TAGS = 20
# varchar(255): a title keyset cursor longer than the column cannot match anything.
MAX_TITLE_LENGTH = 255
# Name of the extra field carried when the request joins users.
USERNAME = "username"

SORT_FIELDS: tuple[str, ...] = ("created_at", "updated_at", "quality_score", "title")
SORT_ORDERS: tuple[str, ...] = ("asc", "desc")
TAG_MATCHES: tuple[str, ...] = ("any", "all")

SortOrder = Literal["asc", "desc"]
TagMatch = Literal["any", "all"]
SortValue = dt.datetime | float | str
Cursor = tuple[SortValue, int]


class SourceType(StrEnum):
    """The endpoint's ``content_source_types`` values."""

    USER_REGULAR = "user-regular"
    USER_AUTO = "user-auto"
    COMMUNITY_REGULAR = "community-regular"
    COMMUNITY_AUTO = "community-auto"


# Partition and creator test of each source type: (partition value, creator is the user).
SOURCE_TYPES: dict[SourceType, tuple[Source, bool]] = {
    SourceType.USER_REGULAR: (Source.ITEMS, True),
    SourceType.USER_AUTO: (Source.AUTO, True),
    SourceType.COMMUNITY_REGULAR: (Source.ITEMS, False),
    SourceType.COMMUNITY_AUTO: (Source.AUTO, False),
}
ALL_SOURCES: tuple[SourceType, ...] = tuple(SOURCE_TYPES)

# Python type a keyset cursor's sort value must have, per sort field.
_SORT_VALUE_TYPES: dict[str, type] = {
    "created_at": dt.datetime,
    "updated_at": dt.datetime,
    "quality_score": float,
    "title": str,
}


def _choices(values: Iterable[str]) -> str:
    return ", ".join(values)


def _shown(value: object) -> str:
    """repr() of client input for an error message: quotes and control characters visible,
    and never megabytes long."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _as_uuid(value: object, what: str) -> uuid.UUID:
    """A UUID from a UUID or its canonical text; anything else is rejected, never quoted."""
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise QuerySpecError(f"{what} {_shown(value)} is not a UUID; pass it as 8-4-4-4-12 hex digits")


def _as_int(value: object, what: str, low: int, high: int) -> int:
    # bool is an int subclass: page_size=True must not mean 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise QuerySpecError(f"{what} must be an integer, got {_shown(value)}")
    if not low <= value <= high:
        raise QuerySpecError(f"{what} must be between {low} and {high}, got {value}")
    return value


def _as_bool(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise QuerySpecError(f"{what} must be true or false, got {_shown(value)}")
    return value


def _sources(values: Iterable[object]) -> tuple[SourceType, ...]:
    if isinstance(values, str):
        values = (values,)
    seen: set[SourceType] = set()
    for value in values:
        try:
            seen.add(SourceType(value))
        except ValueError:
            raise QuerySpecError(
                f"unknown content source type {_shown(value)}; choose from: {_choices(ALL_SOURCES)}"
            ) from None
    if not seen:
        raise QuerySpecError(
            f"content_source_types is empty; pass at least one of: {_choices(ALL_SOURCES)}"
        )
    # Canonical order, so equal requests build byte-identical SQL.
    return tuple(s for s in ALL_SOURCES if s in seen)


def _cursor(value: object, sort_field: str) -> Cursor:
    if not (isinstance(value, tuple) and len(value) == 2):
        raise QuerySpecError(f"keyset cursor must be a (sort value, id) pair, got {_shown(value)}")
    sort_value, item_id = value
    expected = _SORT_VALUE_TYPES[sort_field]
    if expected is float and isinstance(sort_value, int) and not isinstance(sort_value, bool):
        sort_value = float(sort_value)
    if not isinstance(sort_value, expected) or isinstance(sort_value, bool):
        raise QuerySpecError(
            f"keyset cursor value for sort_field={sort_field} must be {expected.__name__}, "
            f"got {_shown(sort_value)}"
        )
    if isinstance(sort_value, float) and not math.isfinite(sort_value):
        raise QuerySpecError(
            f"keyset cursor value must be a finite number, got {_shown(sort_value)}"
        )
    if isinstance(sort_value, dt.datetime) and sort_value.tzinfo is not None:
        # The columns are timestamp without time zone; an aware value would be shifted.
        raise QuerySpecError("keyset cursor timestamp must be naive (timestamp without time zone)")
    if isinstance(sort_value, str) and len(sort_value) > MAX_TITLE_LENGTH:
        raise QuerySpecError(f"keyset cursor title is longer than {MAX_TITLE_LENGTH} characters")
    return (sort_value, _as_int(item_id, "keyset cursor id", 1, 2**31 - 1))


@dataclass(frozen=True)
class ContentRequest:
    """One request to the unified content endpoint, validated on construction.

    Every field is normalised to a typed value: sources to canonical order, UUIDs parsed,
    tags de-duplicated in order. Pagination is by ``page`` (OFFSET) unless ``after`` holds a
    keyset cursor, the (sort value, id) of the last row already shown; then ``page`` is 1.
    """

    sources: tuple[SourceType, ...] = ALL_SOURCES
    user_id: uuid.UUID | None = None
    tags: tuple[uuid.UUID, ...] = ()
    tag_match: TagMatch = "any"
    is_private: bool | None = None
    sort_field: str = "created_at"
    sort_order: SortOrder = "desc"
    page_size: int = 10
    page: int = 1
    after: Cursor | None = None
    with_username: bool = False
    with_total: bool = False

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        put("sources", _sources(self.sources))
        if self.user_id is None:
            # Every source type tests the creator against the user, "community" included.
            raise QuerySpecError(
                "user_id is required: every content source type compares the creator with it"
            )
        put("user_id", _as_uuid(self.user_id, "user_id"))
        tags = (self.tags,) if isinstance(self.tags, str | uuid.UUID) else tuple(self.tags)
        if len(tags) > MAX_TAGS:
            raise QuerySpecError(f"at most {MAX_TAGS} tags per request, got {len(tags)}")
        put("tags", tuple(dict.fromkeys(_as_uuid(t, "tag") for t in tags)))
        if self.tag_match not in TAG_MATCHES:
            raise QuerySpecError(
                f"unknown tag_match {_shown(self.tag_match)}; choose from: {_choices(TAG_MATCHES)}"
            )
        if self.is_private is not None:
            _as_bool(self.is_private, "is_private")
        if self.sort_field not in SORT_FIELDS:
            raise QuerySpecError(
                f"unknown sort_field {_shown(self.sort_field)}; "
                f"choose from: {_choices(SORT_FIELDS)}"
            )
        if self.sort_order not in SORT_ORDERS:
            raise QuerySpecError(
                f"unknown sort_order {_shown(self.sort_order)}; "
                f"choose from: {_choices(SORT_ORDERS)}"
            )
        _as_int(self.page_size, "page_size", 1, MAX_PAGE_SIZE)
        _as_int(self.page, "page", 1, MAX_PAGE)
        if self.after is not None:
            if self.page != 1:
                raise QuerySpecError("pass either page (OFFSET) or after (keyset cursor), not both")
            put("after", _cursor(self.after, self.sort_field))
        _as_bool(self.with_username, "with_username")
        _as_bool(self.with_total, "with_total")

    @property
    def columns(self) -> tuple[str, ...]:
        """Fields of a full page row: ``LIST_COLUMNS`` (+ ``username`` when joined)."""
        return LIST_COLUMNS + ((USERNAME,) if self.with_username else ())

    @property
    def offset(self) -> int:
        """Rows skipped before this page (0 for keyset pages)."""
        return (self.page - 1) * self.page_size

    @property
    def keyset(self) -> bool:
        """True when the page is addressed by a keyset cursor rather than OFFSET."""
        return self.after is not None

    def with_page(self, page: int) -> ContentRequest:
        """The same request for another OFFSET page."""
        return replace(self, page=page, after=None)

    def with_keyset(self, after: Cursor | None) -> ContentRequest:
        """The same request continuing after ``after`` (None: the first page)."""
        return replace(self, page=1, after=after)

    @classmethod
    def from_query(cls, params: Mapping[str, str | Sequence[str]]) -> ContentRequest:
        """Parse the endpoint's query-string parameters (strings, as HTTP delivers them).

        Repeatable parameters (``content_source_types``, ``tag``) may be given as a list.
        ``after`` is ``<sort value>,<id>`` with the value in ISO 8601 for timestamps.
        Unknown parameter names are rejected so a typo cannot silently drop a filter.
        """
        known = {
            "content_source_types",
            "user_id",
            "tag",
            "tag_match",
            "is_private",
            "sort_field",
            "sort_order",
            "page_size",
            "page",
            "after",
            "with_username",
            "with_total",
        }
        unknown = sorted(set(params) - known)
        if unknown:
            raise QuerySpecError(
                f"unknown query parameter {_shown(unknown[0])}; known: {_choices(sorted(known))}"
            )

        def many(name: str) -> list[str]:
            value = params.get(name, [])
            return [value] if isinstance(value, str) else list(value)

        def one(name: str) -> str | None:
            values = many(name)
            if len(values) > 1:
                raise QuerySpecError(f"{name} given {len(values)} times; pass it once")
            return values[0] if values else None

        kwargs: dict[str, Any] = {}
        if many("content_source_types"):
            kwargs["sources"] = tuple(many("content_source_types"))
        if (user := one("user_id")) is not None:
            kwargs["user_id"] = user
        kwargs["tags"] = tuple(many("tag"))
        for name in ("tag_match", "sort_field", "sort_order"):
            if (value := one(name)) is not None:
                kwargs[name] = value
        for name in ("page_size", "page"):
            if (value := one(name)) is not None:
                kwargs[name] = _parse_int(value, name)
        for name in ("is_private", "with_username", "with_total"):
            if (value := one(name)) is not None:
                kwargs[name] = _parse_bool(value, name)
        if (after := one("after")) is not None:
            kwargs["after"] = _parse_cursor(after, kwargs.get("sort_field", "created_at"))
        return cls(**kwargs)

    def to_query(self) -> dict[str, list[str]]:
        """The request as query-string parameters; ``from_query`` of it gives it back."""
        out: dict[str, list[str]] = {
            "content_source_types": [s.value for s in self.sources],
            "user_id": [str(self.user_id)],
            "tag": [str(t) for t in self.tags],
            "tag_match": [self.tag_match],
            "sort_field": [self.sort_field],
            "sort_order": [self.sort_order],
            "page_size": [str(self.page_size)],
            "page": [str(self.page)],
            "with_username": [_bool_text(self.with_username)],
            "with_total": [_bool_text(self.with_total)],
        }
        if self.is_private is not None:
            out["is_private"] = [_bool_text(self.is_private)]
        if self.after is not None:
            value, item_id = self.after
            if isinstance(value, dt.datetime):
                text = value.isoformat()
            elif isinstance(value, float):
                text = repr(value)  # shortest text that parses back to the same float
            else:
                text = value
            out["after"] = [f"{text},{item_id}"]
        return {k: v for k, v in out.items() if v}


def _bool_text(value: bool) -> str:
    return "true" if value else "false"


def _parse_int(value: str, name: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise QuerySpecError(f"{name} must be an integer, got {_shown(value)}") from None


def _parse_bool(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise QuerySpecError(f"{name} must be true or false, got {_shown(value)}")


def _parse_cursor(text: str, sort_field: str) -> Cursor:
    # Split on the last comma: a title cursor may itself contain commas.
    value, sep, item_id = text.rpartition(",")
    if not sep:
        raise QuerySpecError(f"after must be '<sort value>,<id>', got {_shown(text)}")
    id_value = _parse_int(item_id, "after id")
    if sort_field not in _SORT_VALUE_TYPES:
        raise QuerySpecError(
            f"unknown sort_field {_shown(sort_field)}; choose from: {_choices(SORT_FIELDS)}"
        )
    expected = _SORT_VALUE_TYPES[sort_field]
    try:
        if expected is dt.datetime:
            return (dt.datetime.fromisoformat(value), id_value)
        if expected is float:
            return (float(value), id_value)
    except ValueError:
        raise QuerySpecError(
            f"after value {_shown(value)} is not a valid {expected.__name__} "
            f"for sort_field={sort_field}"
        ) from None
    return (value, id_value)


@dataclass(frozen=True)
class Page:
    """One page as every strategy returns it: rows as tuples, in ``columns`` order.

    ``columns`` names the fields each row carries: ``LIST_COLUMNS`` (+ ``username`` when the
    request joins users) for full-row strategies, fewer for strategies that skip columns on
    purpose (deferred JSON, load_only). Comparison with the oracle therefore projects the
    oracle's full page onto the strategy's columns, so a strategy is held to every value it
    loads and to nothing it deliberately does not load. ``total`` is None unless requested.
    """

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    total: int | None = None

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def ids(self) -> tuple[int, ...]:
        """Content ids in page order (ids are unique across partitions: one sequence)."""
        index = self.columns.index("id")
        return tuple(row[index] for row in self.rows)

    def column(self, name: str) -> tuple[Any, ...]:
        """Every row's value of one column, in page order."""
        index = self.columns.index(name)
        return tuple(row[index] for row in self.rows)

    def project(self, columns: Sequence[str]) -> Page:
        """This page restricted to ``columns`` (each must be one this page carries)."""
        missing = [c for c in columns if c not in self.columns]
        if missing:
            raise ValueError(f"page does not carry column(s) {', '.join(missing)}")
        indexes = [self.columns.index(c) for c in columns]
        return Page(
            tuple(columns),
            tuple(tuple(row[i] for i in indexes) for row in self.rows),
            self.total,
        )

    def diff(
        self, actual: Page, *, limit: int = 5, shared: bool = False, total: bool = True
    ) -> list[str]:
        """Differences of ``actual`` from this (expected) page, empty when they agree: the one
        page comparison (strategy against the oracle or the floor, decoded body against the
        floor's, bad variant against fixed, explain's two strategies).

        Compares ids and order first (the usual failure), then every value of every column
        ``actual`` carries (``shared``: of every column both pages carry, neither being the
        reference), then the total (unless ``total`` is False: a capped count differs from
        the exact one on purpose). Values compare with ``==`` and exact types for floats and
        timestamps, as the oracle reproduces what PostgreSQL returns.
        """
        out: list[str] = []
        if self.ids != actual.ids:
            out.append(f"ids differ: expected {list(self.ids)}, got {list(actual.ids)}")
            return out
        columns = [c for c in actual.columns if c in self.columns] if shared else actual.columns
        try:
            expected, got_page = self.project(columns), actual.project(columns)
        except ValueError as exc:
            return [str(exc)]
        for n, (want, got) in enumerate(zip(expected.rows, got_page.rows, strict=True)):
            for name, a, b in zip(columns, want, got, strict=True):
                if a != b or type(a) is not type(b):
                    out.append(f"row {n} (id {actual.ids[n]}) column {name}: {a!r} != {b!r}")
                    if len(out) >= limit:
                        return out
        # Compared by default: a strategy that drops a requested total is wrong too.
        if total and self.total != actual.total:
            out.append(f"total: expected {self.total}, got {actual.total}")
        return out

    def check(self, actual: Page, what: str, *, shared: bool = False, total: bool = True) -> None:
        """Raise ``PageMismatch`` (``what: differences``) unless ``diff`` finds none."""
        problems = self.diff(actual, shared=shared, total=total)
        if problems:
            raise PageMismatch(f"{what}: {'; '.join(problems)}")


class PageMismatch(AssertionError):
    """A page differs from the one it must equal: timing it would be meaningless."""


__all__ = [
    "ALL_SOURCES",
    "MAX_PAGE",
    "MAX_PAGE_SIZE",
    "MAX_TAGS",
    "SORT_FIELDS",
    "SORT_ORDERS",
    "SOURCE_TYPES",
    "TAG_MATCHES",
    "USERNAME",
    "ContentRequest",
    "Cursor",
    "Page",
    "PageMismatch",
    "SortValue",
    "SourceType",
]
