"""The oracle implements the request's definition on hand-made rows (no database needed)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ormbench.data.models import LIST_COLUMNS, Source
from ormbench.query.oracle import Oracle
from ormbench.query.spec import SORT_FIELDS, USERNAME, ContentRequest, SourceType

ALICE = uuid.UUID(int=1)
BOB = uuid.UUID(int=2)
T1 = uuid.UUID(int=101)
T2 = uuid.UUID(int=102)
BASE = dt.datetime(2024, 1, 1)


def row(item_id: int, source: str, creator: uuid.UUID, **values: Any) -> dict[str, Any]:
    out = {c: None for c in LIST_COLUMNS}
    out.update(
        id=item_id,
        source_type=source,
        title=f"title {item_id}",
        content_type="image",
        content_data={"w": 1},
        creator_id=creator,
        created_at=BASE + dt.timedelta(hours=item_id),
        updated_at=BASE,
        quality_score=0.5,
        is_private=False,
    )
    out.update(values)
    return out


ROWS = [
    row(1, "items", ALICE),
    row(2, "auto", ALICE, is_private=True),
    row(3, "items", BOB),
    row(4, "auto", BOB),
]
USERS = {ALICE: "alice", BOB: "bob"}


def ids(oracle: Oracle, **kwargs: Any) -> list[int]:
    return list(oracle.page(ContentRequest(user_id=ALICE, page_size=100, **kwargs)).ids)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (SourceType.USER_REGULAR, [1]),
        (SourceType.USER_AUTO, [2]),
        (SourceType.COMMUNITY_REGULAR, [3]),
        (SourceType.COMMUNITY_AUTO, [4]),
    ],
)
def test_each_source_type(source: SourceType, expected: list[int]) -> None:
    """Each source type selects its partition and the user's / everyone else's items."""
    assert ids(Oracle(ROWS, [], USERS), sources=(source,)) == expected


def test_tag_links_count_only_in_the_items_partition() -> None:
    """A link naming the wrong partition does not tag the item (the production bug's mirror)."""
    links = [(1, "items", T1), (2, "items", T1), (3, "items", T2), (4, "auto", T1), (4, "auto", T2)]
    oracle = Oracle(ROWS, links, USERS)
    assert ids(oracle, tags=(T1,)) == [4, 1]  # item 2 is 'auto': its 'items' link is not its own
    assert ids(oracle, tags=(T1, T2), tag_match="any") == [4, 3, 1]
    assert ids(oracle, tags=(T1, T2), tag_match="all") == [4]


def test_privacy_username_and_total() -> None:
    """is_private filters; username is appended from users; total counts the filtered set."""
    oracle = Oracle(ROWS, [], USERS)
    assert ids(oracle, is_private=True) == [2]
    assert ids(oracle, is_private=False) == [4, 3, 1]
    page = oracle.page(
        ContentRequest(user_id=ALICE, page_size=2, with_username=True, with_total=True)
    )
    assert page.columns == (*LIST_COLUMNS, USERNAME)
    assert page.column(USERNAME) == ("bob", "bob")
    assert page.total == 4


def test_order_ties_and_direction() -> None:
    """Ties on the sort value are broken by id in the same direction."""
    rows = [
        row(i, "auto", BOB, quality_score=q) for i, q in [(1, 0.2), (2, 0.9), (3, 0.2), (4, 0.9)]
    ]
    oracle = Oracle(rows, [], USERS)
    assert ids(oracle, sort_field="quality_score") == [4, 2, 3, 1]
    assert ids(oracle, sort_field="quality_score", sort_order="asc") == [1, 3, 2, 4]


def test_titles_sort_by_code_point() -> None:
    """Titles sort as under PostgreSQL's C / C.UTF-8 collation: upper case first, space low."""
    titles = {1: "ab", 2: "a b", 3: "B", 4: "a"}
    rows = [row(i, "auto", BOB, title=t) for i, t in titles.items()]
    assert ids(Oracle(rows, [], USERS), sort_field="title", sort_order="asc") == [3, 4, 2, 1]


def test_title_key_replaces_code_point_order() -> None:
    """A server-derived title key (for linguistic collations) drives the title order."""
    titles = {1: "ab", 2: "a b", 3: "B", 4: "a"}
    rank = {"a": 0, "ab": 1, "a b": 2, "B": 3}
    rows = [row(i, "auto", BOB, title=t) for i, t in titles.items()]
    oracle = Oracle(rows, [], USERS, title_key=rank.__getitem__)
    req = ContentRequest(user_id=ALICE, sort_field="title", sort_order="asc", page_size=2)
    assert oracle.page(req).ids == (4, 1)
    assert oracle.page(req.with_keyset(oracle.cursor(req.with_page(2)))).ids == (2, 3)


def test_values_come_back_as_the_database_returns_them() -> None:
    """Enum partitions become str and JSON tuples become lists, as after a jsonb round trip."""
    oracle = Oracle([row(1, Source.AUTO, BOB, content_data={"k": (1, 2)})], [], USERS)
    page = oracle.page(ContentRequest(user_id=ALICE))
    assert type(page.column("source_type")[0]) is str
    assert page.column("content_data") == ({"k": [1, 2]},)


@settings(max_examples=80, deadline=None)
@given(
    data=st.lists(
        st.tuples(
            st.sampled_from(["items", "auto"]),
            st.sampled_from([ALICE, BOB]),
            st.integers(0, 3),  # few distinct values: many ties
            st.sampled_from(["a", "B", "a b", "ab"]),
        ),
        max_size=40,
    ),
    sort_field=st.sampled_from(SORT_FIELDS),
    sort_order=st.sampled_from(["asc", "desc"]),
    page_size=st.integers(1, 7),
)
def test_keyset_pages_equal_offset_pages(data, sort_field, sort_order, page_size) -> None:
    """Walking by keyset cursor visits exactly the OFFSET pages, ties included."""
    rows = [
        row(
            i + 1,
            source,
            creator,
            created_at=BASE + dt.timedelta(days=v),
            updated_at=BASE + dt.timedelta(days=v),
            quality_score=v / 4,
            title=title,
        )
        for i, (source, creator, v, title) in enumerate(data)
    ]
    oracle = Oracle(rows, [], USERS)
    req = ContentRequest(
        user_id=ALICE, sort_field=sort_field, sort_order=sort_order, page_size=page_size
    )
    seen: list[int] = []
    cursor = None
    for page in range(1, len(rows) // page_size + 3):
        by_offset = oracle.page(req.with_page(page))
        assert oracle.cursor(req.with_page(page)) == cursor
        by_keyset = oracle.page(req.with_keyset(cursor))
        assert by_keyset == by_offset
        seen.extend(by_offset.ids)
        if by_offset.rows:
            last = by_offset.rows[-1]
            cursor = (last[LIST_COLUMNS.index(sort_field)], last[0])
    assert sorted(seen) == sorted(r["id"] for r in rows)
