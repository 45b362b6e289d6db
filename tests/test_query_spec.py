"""ContentRequest accepts what the endpoint accepts and rejects the rest with a one-line fix."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ormbench.data.models import LIST_COLUMNS
from ormbench.errors import QuerySpecError
from ormbench.query import build
from ormbench.query.spec import (
    ALL_SOURCES,
    MAX_PAGE_SIZE,
    SORT_FIELDS,
    USERNAME,
    ContentRequest,
    Page,
    PageMismatch,
    SourceType,
)

USER = uuid.UUID("5927ef9e-f97d-26f4-f7f5-0c2066952a68")
TAG = uuid.UUID("0ee1b29b-612c-6f32-68dc-fb730d7380d3")
TAG2 = uuid.UUID("11111111-2222-3333-4444-555555555555")
# What an attacker or a sloppy client sends where a UUID or a word is expected.
HOSTILE = (
    "'; DROP TABLE content_items_all; --",
    "x' OR '1'='1",
    "1; SELECT pg_sleep(10)",
    "-- comment",
    '"quoted"',
    "created_at; --",
    "",
)

# The production URL's parameters (production-shape.md), as an HTTP framework delivers them.
PRODUCTION_QUERY = {
    "page": "1",
    "page_size": "10",
    "content_source_types": ["user-regular", "user-auto", "community-regular", "community-auto"],
    "user_id": str(USER),
    "sort_field": "created_at",
    "sort_order": "desc",
    "tag": str(TAG),
}


def test_production_query_parses() -> None:
    """The production URL's parameters give the canonical request."""
    req = ContentRequest.from_query(PRODUCTION_QUERY)
    assert req == ContentRequest(user_id=USER, tags=(TAG,))
    assert req.sources == ALL_SOURCES
    assert (req.sort_field, req.sort_order, req.page_size, req.page) == (
        "created_at",
        "desc",
        10,
        1,
    )
    assert not req.keyset and req.offset == 0


def test_normalisation() -> None:
    """Sources go to canonical order, tags are de-duplicated in order, UUID text is parsed."""
    req = ContentRequest(
        sources=("community-auto", SourceType.USER_REGULAR, "community-auto"),
        user_id=str(USER),
        tags=(str(TAG2), TAG, TAG2),
    )
    assert req.sources == (SourceType.USER_REGULAR, SourceType.COMMUNITY_AUTO)
    assert req.user_id == USER
    assert req.tags == (TAG2, TAG)
    assert req == ContentRequest(
        sources=(SourceType.USER_REGULAR, SourceType.COMMUNITY_AUTO), user_id=USER, tags=(TAG2, TAG)
    )


def test_columns_and_offset() -> None:
    """A page's columns follow the username flag; OFFSET is (page - 1) * page_size."""
    req = ContentRequest(user_id=USER, page_size=25, page=3)
    assert req.columns == LIST_COLUMNS and req.offset == 50
    assert ContentRequest(user_id=USER, with_username=True).columns == (*LIST_COLUMNS, USERNAME)


def test_keyset_and_page_round_trip() -> None:
    """with_keyset / with_page switch pagination without touching anything else."""
    req = ContentRequest(user_id=USER, page=4)
    cursor = (dt.datetime(2024, 5, 1, 12, 0, 0, 123456), 77)
    keyset = req.with_keyset(cursor)
    assert keyset.keyset and keyset.page == 1 and keyset.after == cursor and keyset.offset == 0
    assert keyset.with_page(4) == req


@pytest.mark.parametrize(
    ("sort_field", "after"),
    [
        ("created_at", "2024-05-01T12:00:00.123456,77"),
        ("updated_at", "2024-05-01T12:00:00,1"),
        ("quality_score", "0.1234,9"),
        ("title", 'O\'Brien, the "best"; --,12'),
    ],
)
def test_to_query_round_trip(sort_field: str, after: str) -> None:
    """to_query() gives parameters that from_query() turns back into the same request."""
    query = {**PRODUCTION_QUERY, "sort_field": sort_field, "after": after, "with_username": "true"}
    query.pop("page")
    req = ContentRequest.from_query(query)
    assert ContentRequest.from_query(req.to_query()) == req


@settings(max_examples=60, deadline=None)
@given(
    sources=st.sets(st.sampled_from(ALL_SOURCES), min_size=1),
    tags=st.lists(st.uuids(), max_size=4),
    tag_match=st.sampled_from(["any", "all"]),
    is_private=st.sampled_from([None, True, False]),
    sort_field=st.sampled_from(SORT_FIELDS),
    sort_order=st.sampled_from(["asc", "desc"]),
    page_size=st.integers(1, MAX_PAGE_SIZE),
    page=st.integers(1, 500),
    flags=st.tuples(st.booleans(), st.booleans()),
)
def test_to_query_round_trip_any(
    sources, tags, tag_match, is_private, sort_field, sort_order, page_size, page, flags
) -> None:
    """Any valid request survives a trip through query-string parameters."""
    req = ContentRequest(
        sources=tuple(sources),
        user_id=USER,
        tags=tuple(tags),
        tag_match=tag_match,
        is_private=is_private,
        sort_field=sort_field,
        sort_order=sort_order,
        page_size=page_size,
        page=page,
        with_username=flags[0],
        with_total=flags[1],
    )
    assert ContentRequest.from_query(req.to_query()) == req


REJECTED_QUERIES = [
    ({"sort_field": "popularity"}, "unknown sort_field 'popularity'; choose from"),
    ({"sort_field": "created_at; DROP TABLE users"}, "unknown sort_field"),
    ({"sort_field": "created_at DESC, (SELECT 1)"}, "unknown sort_field"),
    ({"sort_order": "sideways"}, "unknown sort_order"),
    ({"sort_order": "desc; --"}, "unknown sort_order"),
    ({"page_size": "0"}, "page_size must be between 1 and"),
    ({"page_size": "-5"}, "page_size must be between 1 and"),
    ({"page_size": str(MAX_PAGE_SIZE + 1)}, "page_size must be between 1 and"),
    ({"page_size": "ten"}, "page_size must be an integer, got 'ten'"),
    ({"page_size": "10; --"}, "page_size must be an integer"),
    ({"page": "0"}, "page must be between 1 and"),
    ({"user_id": "not-a-uuid"}, "user_id 'not-a-uuid' is not a UUID"),
    ({"user_id": str(USER)[:-1]}, "is not a UUID"),
    ({"tag": "1234"}, "tag '1234' is not a UUID"),
    ({"tag": [str(TAG), "zzzz"]}, "tag 'zzzz' is not a UUID"),
    ({"content_source_types": "everyone"}, "unknown content source type 'everyone'"),
    ({"content_source_types": []}, None),  # empty list: default sources, accepted
    ({"tag_match": "most"}, "unknown tag_match"),
    ({"is_private": "maybe"}, "is_private must be true or false"),
    ({"sort": "title"}, "unknown query parameter 'sort'"),
    ({"user_id": [str(USER), str(USER)]}, "user_id given 2 times"),
    ({"after": "2024-01-01T00:00:00"}, "after must be '<sort value>,<id>'"),
    ({"after": "yesterday,5"}, "is not a valid datetime"),
    ({"after": "2024-01-01T00:00:00,5", "page": "2"}, "pass either page (OFFSET) or after"),
    ({"after": "2024-01-01T00:00:00,0"}, "keyset cursor id must be between 1"),
    ({"after": "nan,5", "sort_field": "quality_score"}, "finite number"),
]


@pytest.mark.parametrize(("change", "message"), REJECTED_QUERIES)
def test_rejected_query(change: dict, message: str | None) -> None:
    """Each bad parameter raises QuerySpecError: one line naming the parameter and the fix."""
    query = {**PRODUCTION_QUERY, **change}
    if message is None:
        ContentRequest.from_query(query)
        return
    with pytest.raises(QuerySpecError) as info:
        ContentRequest.from_query(query)
    text = str(info.value)
    assert message in text
    assert "\n" not in text and "Traceback" not in text


def test_missing_user_is_rejected() -> None:
    """Every source type compares the creator with the user, so the user is required."""
    query = {k: v for k, v in PRODUCTION_QUERY.items() if k != "user_id"}
    with pytest.raises(QuerySpecError, match="user_id is required"):
        ContentRequest.from_query(query)


@pytest.mark.parametrize("hostile", HOSTILE)
@pytest.mark.parametrize("where", ["user_id", "tag", "sort_field", "sort_order", "page_size"])
def test_hostile_strings_are_rejected_before_any_sql(
    hostile: str, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Quotes, ';' and '--' in a UUID, word or number position are refused at parse time,
    and the builder is never reached."""
    calls: list[object] = []
    for name in ("page_select", "compile_sql", "apply_request"):
        original = getattr(build, name)
        monkeypatch.setattr(
            build, name, lambda *a, _o=original, **k: calls.append(a) or _o(*a, **k)
        )
    with pytest.raises(QuerySpecError) as info:
        req = ContentRequest.from_query({**PRODUCTION_QUERY, where: hostile})
        build.page_sql(req)
    assert where in str(info.value) or "tag" in str(info.value)
    assert calls == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"page_size": 0},
        {"page_size": -1},
        {"page_size": True},
        {"page_size": 10.0},
        {"page": 0},
        {"sort_field": "id"},
        {"sort_field": "TITLE"},
        {"user_id": "'; --"},
        {"user_id": 42},
        {"tags": ("x'--",)},
        {"tags": (None,)},
        {"sources": ()},
        {"is_private": "false"},
        {"with_username": 1},
        {"after": (dt.datetime(2024, 1, 1), 5), "page": 2},
        {"after": ("2024-01-01", 5)},
        {"after": (dt.datetime(2024, 1, 1, tzinfo=dt.UTC), 5)},
        {"after": (dt.datetime(2024, 1, 1),)},
        {"tags": tuple(uuid.uuid4() for _ in range(21))},
    ],
)
def test_rejected_constructor_arguments(kwargs: dict) -> None:
    """Code that builds requests directly gets the same validation as the parser."""
    with pytest.raises(QuerySpecError):
        ContentRequest(**{"user_id": USER, **kwargs})


def test_page_diff_projects_onto_loaded_columns() -> None:
    """A page that loads fewer columns is compared on exactly those columns."""
    full = Page(("id", "title", "item_metadata"), ((1, "a", {"k": 1}), (2, "b", None)), None)
    partial = Page(("id", "title"), ((1, "a"), (2, "b")))
    assert full.diff(partial) == []
    assert full.diff(Page(("id", "title"), ((1, "a"), (2, "B"))))[0].startswith("row 1 (id 2)")
    assert "ids differ" in full.diff(Page(("id", "title"), ((2, "b"), (1, "a"))))[0]
    assert "does not carry" in full.diff(Page(("id", "prompt"), ((1, "x"), (2, "y"))))[0]
    # Exact types: 1 == 1.0 in Python, but a float column must come back as a float.
    floats = Page(("id", "quality_score"), ((1, 1.0),))
    assert floats.diff(Page(("id", "quality_score"), ((1, 1),)))
    # A requested total that a strategy drops is a difference.
    assert Page(("id",), ((1,),), total=7).diff(Page(("id",), ((1,),))) == [
        "total: expected 7, got None"
    ]


def test_page_diff_of_two_strategies_compares_the_columns_both_load() -> None:
    """``shared``: neither page is the reference, so each may load a column the other does
    not; ``total=False``: a capped count against an exact one is no difference."""
    bad = Page(("id", "title", "prompt"), ((1, "a", "x"), (2, "b", "y")), total=1000)
    fixed = Page(("id", "title", "quality_score"), ((1, "a", 0.5), (2, "b", 0.7)), total=7)
    assert "does not carry" in bad.diff(fixed, total=False)[0]
    assert bad.diff(fixed, shared=True, total=False) == []
    assert bad.diff(fixed, shared=True) == ["total: expected 1000, got 7"]
    other = Page(("id", "title"), ((1, "a"), (2, "c")))
    assert bad.diff(other, shared=True, total=False) == ["row 1 (id 2) column title: 'b' != 'c'"]


def test_page_check_raises_the_differences_after_what_was_compared() -> None:
    page = Page(("id",), ((1,), (2,)))
    page.check(Page(("id",), ((1,), (2,))), "same")
    with pytest.raises(PageMismatch, match=r"^case: ids differ: expected \[1, 2\], got \[2, 1\]$"):
        page.check(Page(("id",), ((2,), (1,))), "case")
