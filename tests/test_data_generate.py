"""Row generation without a database: factories define the rows, output is deterministic and
independent of chunking, and the shape knobs hold in the generated values."""

from __future__ import annotations

import datetime as dt
import json
import random
import statistics

import pytest

from ormbench.data import factories, generate
from ormbench.data.factories import FACTORIES, ContentItemFactory, Values
from ormbench.data.generate import STRUCTURAL, Generator, compile_plan, iter_dataset
from ormbench.data.models import Base, Source
from ormbench.data.profiles import (
    CONTENT_DATA_MIN_BYTES,
    ITEM_METADATA_MIN_BYTES,
    PROFILES,
    get_profile,
)

TINY = PROFILES["tiny"]


def _rows(profile, chunk_rows=generate.CHUNK_ROWS):
    gen = Generator(profile)
    chunks = list(gen.chunks(chunk_rows))
    return (
        gen.users,
        gen.tags,
        [row for c in chunks for row in c.rows],
        [ranks for c in chunks for ranks in c.tag_ranks],
    )


@pytest.mark.parametrize("table", list(FACTORIES))
def test_every_column_comes_from_the_factory_or_the_dataset(table: str) -> None:
    """Each table's bulk row plan covers every column, declared ones from its factory."""
    plan = compile_plan(table)
    columns = [c.name for c in Base.metadata.tables[table].columns]
    assert list(plan.columns) == columns
    declared = {columns[s.position] for s in plan.steps}
    assert declared | set(STRUCTURAL[table]) == set(columns)
    assert not declared & set(STRUCTURAL[table])


def test_a_column_without_declaration_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    """A column neither declared by its factory nor structural is a TypeError, not a NULL."""
    # ContentItemFactory leaves id to the database: without "structural", nothing fills it.
    monkeypatch.setitem(STRUCTURAL, "content_items_all", ("source_type", "creator_id"))
    with pytest.raises(TypeError, match=r"content_items_all\.id: no factory declaration"):
        compile_plan("content_items_all")


def test_factory_build_and_bulk_rows_have_the_same_columns() -> None:
    """A factory-built object (the hand-made path) has a value for every declared column."""
    item = ContentItemFactory.build(creator=None)
    plan = compile_plan("content_items_all")
    declared = [plan.columns[step.position] for step in plan.steps]
    unset = [c for c in declared if getattr(item, c) is None and c != "path_thumbs_alt_res"]
    assert declared and not unset


def test_same_profile_gives_identical_rows() -> None:
    """Two generators of one profile produce equal users, tags, content and links."""
    assert _rows(TINY) == _rows(TINY)


def test_rows_do_not_depend_on_chunk_size() -> None:
    """Chunks of 7 rows give the same rows and links as the default chunk size."""
    assert _rows(TINY, 7) == _rows(TINY)


def test_another_seed_gives_other_rows() -> None:
    """The seed knob changes the data."""
    other = get_profile("tiny", {"seed": "99"})
    assert _rows(other)[2][:5] != _rows(TINY)[2][:5]


def test_ids_partitions_and_created_at_have_production_shape() -> None:
    """Ids run 1..N, partitions get exactly their counts interleaved, created_at rises."""
    _, _, rows, _ = _rows(TINY)
    columns = compile_plan("content_items_all").columns
    ids = [r[columns.index("id")] for r in rows]
    sources = [r[columns.index("source_type")] for r in rows]
    created = [r[columns.index("created_at")] for r in rows]
    assert ids == list(range(1, TINY.content_rows + 1))
    assert sources.count(Source.ITEMS.value) == TINY.items
    assert sources.count(Source.AUTO.value) == TINY.auto
    # Evenly interleaved: every regular row is about content_rows / items apart.
    first_half = sources[: TINY.content_rows // 2].count(Source.ITEMS.value)
    assert abs(first_half - TINY.items / 2) <= 1
    assert created == sorted(created)
    assert created[-1] <= factories.EPOCH
    assert created[0] >= factories.EPOCH - dt.timedelta(days=TINY.created_days)


def test_iter_dataset_exposes_rows_as_dicts_and_link_tuples() -> None:
    """The oracle view: dicts keyed by column, links as (content_id, content_source, tag_id)."""
    data = iter_dataset(TINY)
    content = list(data.content())
    links = list(data.links())
    assert len(data.users) == TINY.users and len(data.tags) == TINY.tags
    assert set(content[0]) == {c.name for c in Base.metadata.tables["content_items_all"].columns}
    by_id = {row["id"]: row["source_type"] for row in content}
    tag_ids = {t["id"] for t in data.tags}
    assert all(by_id[cid] == source and tag in tag_ids for cid, source, tag in links)
    assert len(set(links)) == len(links)
    # Regenerating gives the same rows again.
    assert list(data.content())[:50] == content[:50]


def test_json_sizes_hit_the_knobs() -> None:
    """Mean length of the JSON text (what jsonb prints) is within 2% of the byte knobs."""
    gen = Generator(PROFILES["ci"])
    columns = gen.plans["content_items_all"].columns
    rows = next(gen.chunks(5_000)).rows
    for column, target in (("content_data", 58), ("item_metadata", 1300)):
        at = columns.index(column)
        mean = statistics.mean(len(json.dumps(r[at])) for r in rows)
        assert mean == pytest.approx(target, rel=0.02), column


def test_json_fixed_parts_fit_under_the_documented_minimums() -> None:
    """Without filler, JSON values are no longer than the profile minimums allow."""
    values = Values(TINY)
    rng = random.Random(1)
    assert max(len(json.dumps(values._content_data(rng, 0))) for _ in range(500)) <= (
        CONTENT_DATA_MIN_BYTES
    )
    pool = [dict(p, negative_prompt="") for p in values._metadata_pool]
    longest = max(len(json.dumps(values._metadata_from(rng, pool))) for _ in range(500))
    assert longest <= ITEM_METADATA_MIN_BYTES


def test_tag_links_follow_the_popularity_curve() -> None:
    """On ci, the top tag, the rarest tag and tags per item are near their knobs."""
    profile = PROFILES["ci"]
    *_, ranks = _rows(profile)
    counts = [0] * profile.tags
    for item in ranks:
        for rank in item:
            counts[rank] += 1
    n = profile.content_rows
    assert counts[0] / n == pytest.approx(0.75, abs=0.01)
    assert counts[-1] / n == pytest.approx(0.01, abs=0.0025)
    assert sum(counts) / n == pytest.approx(profile.tags_per_item, abs=0.05)
