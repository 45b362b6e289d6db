"""Seeding against a real server: deterministic contents, real partitions and indexes,
reuse by fingerprint, interrupted seeds redone, and the roles drawn from the data."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, select, text

from fixtures.cli import subprocess_env
from ormbench.data import seed
from ormbench.data.generate import iter_dataset
from ormbench.data.models import (
    PARTITIONS,
    SCHEMA_VERSION,
    ContentItem,
    content_items_all,
    content_tags,
)
from ormbench.data.profiles import PROFILES, get_profile
from ormbench.data.roles import RARE_TAG_MIN_USER_ITEMS, load_roles
from ormbench.data.seed import create_schema, ensure_dataset, fingerprint, seed_command
from ormbench.pg import PgServer
from ormbench.workspace import Workspace

TINY = PROFILES["tiny"]
# Primary key of each table, for a stable row order in checksums.
ORDER_BY = {
    "users": "id",
    "tags": "id",
    "content_items": "id",
    "content_items_auto": "id",
    "content_tags": "content_id, content_source, tag_id",
    "ormbench_meta": "key",
}
# Seconds to wait for the seeding subprocess to reach its COPY.
COPY_WAIT = 60


def _schema(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(conn.execute(text("SELECT current_schema()")).scalar_one())


def _checksums(conn: Connection) -> dict[str, str]:
    """md5 over every row of every data table, rows in primary key order."""
    out = {}
    for table, order in ORDER_BY.items():
        if table == "ormbench_meta":
            continue
        sql = f"SELECT md5(string_agg(t::text, '|' ORDER BY {order})) FROM {table} t"
        out[table] = str(conn.execute(text(sql)).scalar_one())
    return out


def _pairs(rows: Iterable[Any]) -> dict[Any, Any]:
    """A two-column result as a dict (a Result has keys(), so dict() would misread it)."""
    return {key: value for key, value in rows}


def _marker(conn: Connection) -> dict | None:
    return conn.execute(text("SELECT value FROM ormbench_meta WHERE key = 'dataset'")).scalar()


def test_two_seeds_of_tiny_are_identical(make_schema: Callable[[], Engine]) -> None:
    """Two fresh schemas seeded with tiny hold the same fingerprint and byte-equal tables."""
    first, second = make_schema(), make_schema()
    a, b = ensure_dataset(first, TINY), ensure_dataset(second, TINY)
    assert not a.reused and not b.reused
    assert a.fingerprint == b.fingerprint == fingerprint(TINY)
    assert a.fingerprint_hash == b.fingerprint_hash
    with first.connect() as c1, second.connect() as c2:
        assert _checksums(c1) == _checksums(c2)
        assert _marker(c1)["fingerprint"] == _marker(c2)["fingerprint"]


def test_seeded_rows_are_the_generated_rows(make_schema: Callable[[], Engine]) -> None:
    """Every content row and link in the database equals what iter_dataset regenerates."""
    engine = make_schema()
    ensure_dataset(engine, TINY)
    data = iter_dataset(TINY)
    with engine.connect() as conn:
        stored = [
            row._asdict()
            for row in conn.execute(select(content_items_all).order_by(content_items_all.c.id))
        ]
        links = [
            tuple(row)
            for row in conn.execute(
                select(content_tags).order_by(*content_tags.primary_key.columns)
            )
        ]
        users = conn.execute(text("SELECT * FROM users ORDER BY username")).mappings()
        assert stored == list(data.content())
        assert list(links) == sorted(data.links())
        assert [dict(u) for u in users] == data.users


def test_partitions_are_real_and_rows_land_in_their_partition(
    seeded: Callable[[str], Workspace],
) -> None:
    """content_items_all is LIST-partitioned into its two partitions; no row is misplaced."""
    with seeded("tiny").engine.connect() as conn:
        strategy = conn.execute(
            text(
                "SELECT partstrat FROM pg_partitioned_table "
                "WHERE partrelid = 'content_items_all'::regclass"
            )
        ).scalar_one()
        children = conn.execute(
            text(
                "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
                "JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'content_items_all'::regclass ORDER BY c.relname"
            )
        ).all()
        misplaced = conn.execute(
            text(
                "SELECT count(*) FROM content_items_all "
                "WHERE tableoid::regclass::text <> CASE source_type "
                "WHEN 'items' THEN 'content_items' ELSE 'content_items_auto' END"
            )
        ).scalar_one()
        per_partition = _pairs(
            conn.execute(
                text("SELECT tableoid::regclass::text, count(*) FROM content_items_all GROUP BY 1")
            )
        )
    assert strategy == "l"
    assert children == [
        ("content_items", "FOR VALUES IN ('items')"),
        ("content_items_auto", "FOR VALUES IN ('auto')"),
    ]
    assert misplaced == 0
    assert per_partition == {"content_items": TINY.items, "content_items_auto": TINY.auto}


def test_every_named_index_exists_on_parent_and_partitions(
    seeded: Callable[[str], Workspace],
) -> None:
    """After a seed every model index and key exists, and each partition carries each one."""
    parent_indexes = {str(i.name) for i in content_items_all.indexes} | {"content_items_all_pkey"}
    tag_indexes = {str(i.name) for i in content_tags.indexes} | {"content_tags_pkey"}
    with seeded("tiny").engine.connect() as conn:
        present = set(
            conn.execute(
                text("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")
            ).scalars()
        )
        attached = _pairs(
            conn.execute(
                text(
                    "SELECT p.relname, count(*) FROM pg_inherits i "
                    "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relkind = 'I' "
                    "AND p.relnamespace = current_schema()::regnamespace GROUP BY p.relname"
                )
            )
        )
        foreign = conn.execute(
            text(
                "SELECT conrelid::regclass::text FROM pg_constraint "
                "WHERE contype = 'f' AND connamespace = current_schema()::regnamespace "
                "AND conparentid = 0 ORDER BY 1"
            )
        ).scalars()
        assert sorted(foreign) == ["content_items_all", "content_tags"]
    assert parent_indexes | tag_indexes <= present
    # Each index of the partitioned parent has one attached index per partition.
    assert {name: attached.get(name) for name in parent_indexes} == dict.fromkeys(
        parent_indexes, len(PARTITIONS)
    )


def test_ci_distribution_targets(seeded: Callable[[str], Workspace]) -> None:
    """On ci: top tag ~75%, rarest ~1%, 4 tags per item, JSON means and private share hold."""
    ci = seeded("ci")
    p = ci.profile
    with ci.engine.connect() as conn:
        shares = _pairs(
            conn.execute(
                text(
                    "SELECT t.name, count(ct.tag_id)::float / :n FROM tags t "
                    "LEFT JOIN content_tags ct ON ct.tag_id = t.id GROUP BY t.name"
                ),
                {"n": p.content_rows},
            )
        )
        row = conn.execute(
            text(
                "SELECT avg(length(content_data::text)), avg(length(item_metadata::text)), "
                "avg(is_private::int), count(*) FROM content_items_all"
            )
        ).one()
        links = conn.execute(text("SELECT count(*) FROM content_tags")).scalar_one()
    # Tolerances: about 4 standard errors of a binomial share on 50,000 items.
    assert max(shares.values()) == pytest.approx(p.top_tag_share, abs=0.01)
    assert shares[f"tag_{p.tags - 1:03d}"] == pytest.approx(p.rare_tag_share, abs=0.0025)
    assert min(shares.values()) >= p.rare_tag_share - 0.003
    assert links / p.content_rows == pytest.approx(p.tags_per_item, abs=0.05)
    assert float(row[0]) == pytest.approx(p.content_data_bytes, rel=0.03)
    assert float(row[1]) == pytest.approx(p.item_metadata_bytes, rel=0.03)
    assert float(row[2]) == pytest.approx(p.private_share, abs=0.01)
    assert row[3] == p.content_rows


def test_reuse_skips_and_a_changed_knob_reseeds(make_schema: Callable[[], Engine]) -> None:
    """Same fingerprint: reused without touching the data; another seed knob: reseeded."""
    engine = make_schema()
    first = ensure_dataset(engine, TINY)
    with engine.connect() as conn:
        before = _checksums(conn)
    again = ensure_dataset(engine, TINY)
    assert again.reused and again.counts == first.counts
    assert again.fingerprint_hash == first.fingerprint_hash
    with engine.connect() as conn:
        assert _checksums(conn) == before
    other = ensure_dataset(engine, get_profile("tiny", {"seed": "5"}))
    assert not other.reused and other.fingerprint_hash != first.fingerprint_hash
    with engine.connect() as conn:
        assert _checksums(conn) != before
        assert _marker(conn)["fingerprint"]["knobs"]["seed"] == 5


def test_missing_rows_are_not_taken_for_a_complete_dataset(
    make_schema: Callable[[], Engine],
) -> None:
    """A marker whose row counts no longer match the tables does not count as complete."""
    engine = make_schema()
    ensure_dataset(engine, TINY)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM content_tags WHERE content_id = 1"))
    assert not ensure_dataset(engine, TINY).reused


def test_failure_after_the_load_is_detected_and_redone(
    make_schema: Callable[[], Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A seed that dies after its rows are committed leaves no marker and is redone."""
    engine = make_schema()

    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt("killed while building indexes")

    with monkeypatch.context() as patch:
        patch.setattr(seed, "_run_jobs", crash)
        with pytest.raises(KeyboardInterrupt):
            ensure_dataset(engine, TINY)
    with engine.connect() as conn:
        assert _marker(conn) is None
        # The rows are there, the indexes are not: exactly the state that must not be reused.
        assert conn.execute(text("SELECT count(*) FROM content_items_all")).scalar_one() > 0
    redone = ensure_dataset(engine, TINY)
    assert not redone.reused
    assert ensure_dataset(engine, TINY).reused


def _wait_for_copy(engine: Engine, application: str, child: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + COPY_WAIT
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            found = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE application_name = :app AND query LIKE 'COPY content_items%'"
                ),
                {"app": application},
            ).scalar_one()
            if found:
                return
            if child.poll() is not None:
                pytest.fail(f"the seeding subprocess exited ({child.returncode}) before its COPY")
            conn.rollback()
            time.sleep(0.01)
    pytest.fail(f"the seeding subprocess did not start its COPY within {COPY_WAIT} s")


def test_seed_killed_during_copy_is_detected_and_redone(
    make_schema: Callable[[], Engine], pg_server: PgServer
) -> None:
    """SIGKILL in the middle of the COPY: the old dataset stays whole, the new one is redone."""
    engine = make_schema()
    ensure_dataset(engine, TINY)
    bigger = get_profile("tiny", {"auto": "40000"})
    application = f"ormbench-kill-{uuid.uuid4().hex[:8]}"
    script = textwrap.dedent(
        f"""
        from sqlalchemy import create_engine
        from ormbench.data.profiles import get_profile
        from ormbench.data.seed import ensure_dataset
        engine = create_engine(
            {pg_server.url!r},
            connect_args={{"options": "-c search_path={_schema(engine)}",
                           "application_name": {application!r}}},
        )
        ensure_dataset(engine, get_profile("tiny", {{"auto": "40000"}}))
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], env=subprocess_env())
    try:
        _wait_for_copy(engine, application, child)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    # The load transaction rolled back: the previous, complete tiny dataset is still reused.
    assert ensure_dataset(engine, TINY).reused
    info = ensure_dataset(engine, bigger)
    assert not info.reused and info.content_rows == bigger.content_rows
    assert ensure_dataset(engine, bigger).reused


def test_create_schema_is_idempotent_and_versioned(make_schema: Callable[[], Engine]) -> None:
    """create_schema twice is harmless and records SCHEMA_VERSION."""
    engine = make_schema()
    create_schema(engine)
    create_schema(engine)
    with engine.connect() as conn:
        version = conn.execute(
            text("SELECT value FROM ormbench_meta WHERE key = 'schema_version'")
        ).scalar_one()
        tables = set(
            conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            ).scalars()
        )
    assert version == SCHEMA_VERSION
    assert {"users", "tags", "content_tags", "ormbench_meta", *PARTITIONS.values()} <= tables


def test_seed_command_prints_one_summary_line(make_schema: Callable[[], Engine]) -> None:
    """seed_command reports rows, seconds and rows/s, then 'reused' on a second run."""
    engine = make_schema()
    first = seed_command(engine, TINY, progress=False)
    second = seed_command(engine, TINY, progress=False)
    assert "\n" not in first and "2,000 content rows" in first and "rows/s" in first
    assert second.startswith("reused dataset 'tiny'")


def test_roles_follow_their_rules(seeded: Callable[[str], Workspace]) -> None:
    """On ci every role satisfies its documented rule, and roles are stored with the data."""
    ci = seeded("ci")
    with ci.engine.connect() as conn:
        roles = load_roles(conn)
        shares = _pairs(
            conn.execute(
                text(
                    "SELECT t.id, count(ct.tag_id)::float / (SELECT count(*) "
                    "FROM content_items_all) FROM tags t "
                    "LEFT JOIN content_tags ct ON ct.tag_id = t.id GROUP BY t.id"
                )
            )
        )
        # The canonical user's (regular, auto) items per tag.
        mine = {
            tag: (regular, auto)
            for tag, regular, auto in conn.execute(
                text(
                    "SELECT ct.tag_id, count(*) FILTER (WHERE ct.content_source = 'items'), "
                    "count(*) FILTER (WHERE ct.content_source = 'auto') "
                    "FROM content_tags ct JOIN content_items_all c ON c.id = ct.content_id "
                    "AND c.source_type = ct.content_source WHERE c.creator_id = :u "
                    "GROUP BY ct.tag_id"
                ),
                {"u": roles.canonical_user},
            )
        }
        stored = conn.execute(text("SELECT value FROM ormbench_meta WHERE key = 'roles'"))
        assert stored.scalar_one()["canonical_user"] == str(roles.canonical_user)
    assert roles.popular_tag == max(shares, key=lambda t: (shares[t], -t.int))
    assert roles.tag_pair == (roles.popular_tag, roles.mid_tag)
    assert min(roles.user_items.values()) > 0
    qualifies = {
        tag
        for tag, (regular, auto) in mine.items()
        if regular >= 1 and auto >= 1 and regular + auto >= RARE_TAG_MIN_USER_ITEMS
    }
    assert roles.rare_tag in qualifies
    assert shares[roles.rare_tag] == min(shares[t] for t in qualifies)
    assert shares[roles.rare_tag] < 0.02
    target = math.sqrt(shares[roles.popular_tag] * shares[roles.rare_tag])
    others = [t for t in shares if t not in (roles.popular_tag, roles.rare_tag)]
    best = min(abs(math.log(shares[t] / target)) for t in others)
    assert abs(math.log(shares[roles.mid_tag] / target)) == best


def test_factory_hand_case_is_visible_through_the_orm(make_schema: Callable[[], Engine]) -> None:
    """A private item of user X with tags A and B, made by factories, loads with its relations."""
    from sqlalchemy.orm import Session

    from ormbench.data.factories import (
        ContentItemFactory,
        ContentTagFactory,
        TagFactory,
        UserFactory,
        bind_session,
    )

    engine = make_schema()
    create_schema(engine)
    with Session(engine) as session, bind_session(session):
        user = UserFactory(username="x")
        a, b, c = TagFactory(name="a"), TagFactory(name="b"), TagFactory(name="c")
        item = ContentItemFactory(creator=user, is_private=True, tags=[b, a])
        auto = ContentItemFactory(source_type="auto", creator=user)
        ContentTagFactory(content=auto, tag=c)
        session.commit()
        item_key, auto_key = (item.id, item.source_type), (auto.id, auto.source_type)
    with Session(engine) as session:
        loaded = session.get(ContentItem, item_key)
        assert loaded is not None
        assert (loaded.creator.username, loaded.is_private) == ("x", True)
        assert [t.name for t in loaded.tags] == ["a", "b"]
        other = session.get(ContentItem, auto_key)
        assert other is not None and [t.name for t in other.tags] == ["c"]
        sources = session.execute(
            select(content_tags.c.content_source).where(content_tags.c.content_id == item.id)
        ).scalars()
        assert set(sources) == {"items"}


def test_factories_continue_after_seeded_ids(make_schema: Callable[[], Engine]) -> None:
    """On a seeded schema a factory-made item takes the id after the last seeded one."""
    from sqlalchemy.orm import Session

    from ormbench.data.factories import ContentItemFactory, UserFactory, bind_session

    engine = make_schema()
    ensure_dataset(engine, TINY)
    with Session(engine) as session, bind_session(session):
        item = ContentItemFactory(creator=UserFactory())
        assert item.id == TINY.content_rows + 1
        session.rollback()
