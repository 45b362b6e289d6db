"""The builder emits production's statement shape, every value bound, one SQL for all layers."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from sqlalchemy import literal
from sqlalchemy.dialects.postgresql import psycopg as psycopg_dialect
from sqlalchemy.orm import Session

from ormbench.data.models import LIST_COLUMNS, ContentItem, content_items_all
from ormbench.query import build
from ormbench.query.spec import SORT_FIELDS, ContentRequest, SourceType

USER = uuid.UUID("5927ef9e-f97d-26f4-f7f5-0c2066952a68")
TAGS = (
    uuid.UUID("0ee1b29b-612c-6f32-68dc-fb730d7380d3"),
    uuid.UUID("11111111-2222-3333-4444-555555555555"),
)
CANONICAL = ContentRequest(user_id=USER, tags=TAGS[:1], with_username=True)


def sql(req: ContentRequest) -> str:
    return build.page_sql(req).sql


def flat(text: str) -> str:
    return " ".join(text.split())


def test_canonical_statement_shape() -> None:
    """Four OR-ed (partition, creator) pairs, an EXISTS matching id and partition, the users
    join, ORDER BY created_at DESC, id DESC and a bound LIMIT; page 1 has no OFFSET."""
    text = flat(sql(CANONICAL))
    assert "FROM content_items_all JOIN users ON users.id = content_items_all.creator_id" in text
    assert text.count("content_items_all.creator_id = %(user_id)s::UUID") == 2
    assert text.count("content_items_all.creator_id != %(user_id)s::UUID") == 2
    assert text.count(" OR ") == 3
    assert (
        "content_tags.content_id = content_items_all.id AND "
        "content_tags.content_source = content_items_all.source_type AND "
        "content_tags.tag_id = %(tag_0)s::UUID" in text
    )
    assert text.endswith(
        "ORDER BY content_items_all.created_at DESC, content_items_all.id DESC "
        "LIMIT %(limit)s::INTEGER"
    )
    assert "OFFSET" not in text
    select_list = text.split(" FROM ")[0]
    assert select_list == "SELECT " + ", ".join(
        [f"content_items_all.{c}" for c in LIST_COLUMNS] + ["users.username"]
    )
    params = build.page_sql(CANONICAL).params
    assert params == {
        "source_items": "items",
        "source_auto": "auto",
        "user_id": USER,
        "tag_0": TAGS[0],
        "limit": 10,
    }


@pytest.mark.parametrize(
    ("sources", "pairs"),
    [
        ((SourceType.USER_REGULAR,), [("items", "=")]),
        ((SourceType.USER_REGULAR, SourceType.USER_AUTO), [("items", "="), ("auto", "=")]),
        (
            (SourceType.COMMUNITY_REGULAR, SourceType.COMMUNITY_AUTO),
            [("items", "!="), ("auto", "!=")],
        ),
    ],
)
def test_source_types_map_to_partition_and_creator(sources, pairs) -> None:
    """Each source type is (source_type = partition AND creator =/!= user), OR-ed in order."""
    text = flat(sql(ContentRequest(sources=sources, user_id=USER)))
    found = re.findall(
        r"content_items_all\.source_type = %\(source_(\w+)\)s::VARCHAR AND "
        r"content_items_all\.creator_id (!?=) %\(user_id\)s::UUID",
        text,
    )
    assert found == pairs


def test_tags_any_is_one_exists_with_in() -> None:
    """Several tags, any: one EXISTS with tag_id IN (each tag bound)."""
    text = flat(sql(ContentRequest(user_id=USER, tags=TAGS, tag_match="any")))
    assert text.count("EXISTS") == 1
    assert "content_tags.tag_id IN (%(tag_0)s::UUID, %(tag_1)s::UUID)" in text


def test_tags_all_is_one_exists_per_tag() -> None:
    """Several tags, all: one EXISTS per tag, each matching the content's partition."""
    text = flat(sql(ContentRequest(user_id=USER, tags=TAGS, tag_match="all")))
    assert text.count("EXISTS") == 2
    assert text.count("content_tags.content_source = content_items_all.source_type") == 2
    assert "tag_id = %(tag_0)s::UUID" in text and "tag_id = %(tag_1)s::UUID" in text


def test_no_tags_no_exists_and_privacy_filter() -> None:
    """No tag, no EXISTS; is_private is a bound equality only when asked for."""
    assert "EXISTS" not in sql(ContentRequest(user_id=USER))
    assert "is_private" not in sql(ContentRequest(user_id=USER)).split("FROM")[1]
    text = sql(ContentRequest(user_id=USER, is_private=False))
    assert "content_items_all.is_private = %(is_private)s" in text


@pytest.mark.parametrize("field", SORT_FIELDS)
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_order_and_tie_breaker(field: str, order: str) -> None:
    """ORDER BY the whitelisted column, then id, in the same direction."""
    text = flat(sql(ContentRequest(user_id=USER, sort_field=field, sort_order=order)))
    direction = order.upper()
    assert f"ORDER BY content_items_all.{field} {direction}, content_items_all.id {direction}" in (
        text
    )


def test_offset_pages() -> None:
    """Pages beyond the first skip (page - 1) * page_size rows through a bound OFFSET."""
    req = ContentRequest(user_id=USER, page_size=25, page=3)
    assert flat(sql(req)).endswith("LIMIT %(limit)s::INTEGER OFFSET %(offset)s::INTEGER")
    assert build.page_sql(req).params["offset"] == 50


@pytest.mark.parametrize(
    ("field", "value", "cast"),
    [
        ("created_at", dt.datetime(2024, 1, 1, 12), "TIMESTAMP WITHOUT TIME ZONE"),
        ("quality_score", 0.5, None),  # psycopg binds a Python float as float8 itself
        ("title", "Kana rito", "VARCHAR"),
    ],
)
@pytest.mark.parametrize(("order", "op"), [("desc", "<"), ("asc", ">")])
def test_keyset_row_comparison(field, value, cast, order, op) -> None:
    """A keyset page is (sort, id) < (:after_value, :after_id) for desc, > for asc; no OFFSET."""
    req = ContentRequest(user_id=USER, sort_field=field, sort_order=order, after=(value, 42))
    text = flat(sql(req))
    value_sql = f"%(after_value)s::{cast}" if cast else "%(after_value)s"
    assert (
        f"(content_items_all.{field}, content_items_all.id) {op} "
        f"({value_sql}, %(after_id)s::INTEGER)" in text
    )
    assert "OFFSET" not in text
    assert build.page_sql(req).params["after_value"] == value


def test_total_statement() -> None:
    """The count has the filters but no join, order, cursor or page."""
    req = ContentRequest(
        user_id=USER, tags=TAGS, with_username=True, with_total=True, after=(dt.datetime.now(), 3)
    )
    text = flat(build.total_sql(req).sql)
    assert text.startswith("SELECT count(*) AS count_1 FROM content_items_all WHERE")
    for absent in ("JOIN", "ORDER BY", "LIMIT", "OFFSET", "after_value"):
        assert absent not in text
    assert "EXISTS" in text


def test_values_never_reach_the_sql_text() -> None:
    """Two requests differing only in values compile to the same text: values are bound."""
    hostile = "O'Brien'); DROP TABLE users; --"
    a = ContentRequest(user_id=USER, tags=TAGS, sort_field="title", after=(hostile, 5))
    b = ContentRequest(user_id=uuid.uuid4(), tags=(uuid.uuid4(), uuid.uuid4()), sort_field="title")
    b = b.with_keyset(("plain", 99))
    assert sql(a) == sql(b)
    assert hostile not in sql(a) and "'" not in sql(a)
    assert build.page_sql(a).params["after_value"] == hostile


@pytest.mark.parametrize(
    "req",
    [
        CANONICAL,
        ContentRequest(user_id=USER, tags=TAGS, tag_match="all", page=7, is_private=True),
        ContentRequest(user_id=USER, sort_field="title", after=("a: b::c %d", 5)),
        ContentRequest(user_id=USER, sort_field="quality_score", sort_order="asc", page_size=100),
    ],
)
def test_text_form_compiles_back_to_the_same_sql(req: ContentRequest) -> None:
    """The ``text()`` form (:name) compiles to byte-identical psycopg SQL, casts and all."""
    compiled = build.page_sql(req)
    dialect = psycopg_dialect.dialect()
    assert compiled.text_clause.compile(dialect=dialect).string == compiled.sql


def test_every_layer_compiles_to_the_same_sql() -> None:
    """ORM entity, ORM columns, Core Table columns and the legacy Query give one statement."""
    dialect = psycopg_dialect.dialect()
    req = ContentRequest(user_id=USER, tags=TAGS, page=2, with_username=True, is_private=False)
    expected = build.page_sql(req).sql
    entity = build.page_select(req, ContentItem)
    attributes = build.page_select(req, *(getattr(ContentItem, c) for c in LIST_COLUMNS))
    query = build.apply_request(Session().query(ContentItem), req)
    for stmt in (entity, attributes, query.statement):
        assert stmt.compile(dialect=dialect).string == expected


def test_planted_variants_change_the_sql() -> None:
    """The planted-bug hooks really change the statement (so tests using them test something)."""
    req = ContentRequest(user_id=USER, tags=TAGS[:1], sort_field="quality_score")
    wrong = build.apply_request(
        build.select(*content_items_all.c), req, content_source=literal("regular")
    )
    assert "content_tags.content_source = %(param_1)s" in wrong.compile(
        dialect=psycopg_dialect.dialect()
    ).string.replace("::VARCHAR", "")
    untied = build.apply_request(build.select(*content_items_all.c), req, tie_breaker=False)
    text = flat(str(untied.compile(dialect=psycopg_dialect.dialect())))
    assert "ORDER BY content_items_all.quality_score DESC LIMIT" in text


def test_cursor_select_reads_the_rows_before_the_page() -> None:
    """The cursor query returns (sort, id) of the rows before the page, in page order."""
    req = ContentRequest(user_id=USER, sort_field="quality_score", page_size=10, page=5)
    compiled = build.compile_sql(build.cursor_select(req))
    text = flat(compiled.sql)
    assert text.startswith("SELECT content_items_all.quality_score, content_items_all.id FROM")
    assert "ORDER BY content_items_all.quality_score DESC, content_items_all.id DESC" in text
    assert compiled.params["limit"] == 40
