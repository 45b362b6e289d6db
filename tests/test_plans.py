"""Plan shapes: normalized without noise, equal for equal SQL, diffs that name the node, seq
scans flagged, and the generic/custom plan that really ran."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event, select

from ormbench.config import Settings
from ormbench.data.models import ContentItem
from ormbench.db import make_engine
from ormbench.measure.capture import Statement, capture
from ormbench.measure.paired import Case, extra_info, prepare
from ormbench.measure.plans import (
    PlanMode,
    PlanNode,
    diff_shapes,
    normalize,
    plan_facts,
    plan_shape,
    plan_shapes,
    probe_plan_modes,
    render_shape,
    seq_scans,
)
from ormbench.pg import PgServer
from ormbench.query.build import fetch_cursor
from ormbench.query.scenarios import build_request
from ormbench.query.spec import ContentRequest
from ormbench.strategies import BUILTIN_STRATEGIES, StrategyContext, get_strategy
from ormbench.workspace import Workspace

# EXPLAIN (FORMAT JSON) as PostgreSQL 15 prints it, costs and all, trimmed to three nodes.
RAW_PLAN: list[dict[str, Any]] = [
    {
        "Plan": {
            "Node Type": "Limit",
            "Parallel Aware": False,
            "Startup Cost": 1.29,
            "Total Cost": 16.1,
            "Plan Rows": 10,
            "Plan Width": 1175,
            "Plans": [
                {
                    "Node Type": "Nested Loop",
                    "Parent Relationship": "Outer",
                    "Join Type": "Semi",
                    "Inner Unique": True,
                    "Actual Rows": 10,
                    "Workers Planned": 2,
                    "Plans": [
                        {
                            "Node Type": "Index Scan",
                            "Parent Relationship": "Outer",
                            "Scan Direction": "Backward",
                            "Index Name": "ix_content_created_id",
                            "Relation Name": "content_items_auto",
                            "Alias": "content_items_all_1",
                            "Filter": "(creator_id <> '5927ef9e'::uuid)",
                            "Actual Total Time": 0.2,
                        },
                        {
                            "Node Type": "Index Only Scan",
                            "Parent Relationship": "Inner",
                            "Scan Direction": "Forward",
                            "Index Name": "content_tags_pkey",
                            "Relation Name": "content_tags",
                            "Index Cond": "(tag_id = '0ee1b29b'::uuid)",
                        },
                    ],
                }
            ],
        },
        "Planning Time": 0.33,
    }
]


def _node(node_type: str, *children: PlanNode, **fields: Any) -> PlanNode:
    return PlanNode(node_type, children=children, **fields)


def test_normalize_keeps_the_shape_and_drops_the_noise() -> None:
    """Node types, relations, indexes, join type, direction, parent survive; costs, rows,
    workers, aliases, conditions and timings do not."""
    shape = normalize(RAW_PLAN)
    assert shape.as_dict() == {
        "node_type": "Limit",
        "relation": None,
        "index": None,
        "join_type": None,
        "direction": None,
        "parent": None,
        "subplan": None,
        "children": [
            {
                "node_type": "Nested Loop",
                "relation": None,
                "index": None,
                "join_type": "Semi",
                "direction": None,
                "parent": "Outer",
                "subplan": None,
                "children": [
                    {
                        "node_type": "Index Scan",
                        "relation": "content_items_auto",
                        "index": "ix_content_created_id",
                        "join_type": None,
                        "direction": "Backward",
                        "parent": "Outer",
                        "subplan": None,
                        "children": [],
                    },
                    {
                        "node_type": "Index Only Scan",
                        "relation": "content_tags",
                        "index": "content_tags_pkey",
                        "join_type": None,
                        "direction": "Forward",
                        "parent": "Inner",
                        "subplan": None,
                        "children": [],
                    },
                ],
            }
        ],
    }
    assert PlanNode.from_dict(shape.as_dict()) == shape


def test_labels_read_like_explain_text() -> None:
    """Labels spell nodes the way EXPLAIN's text format does."""
    assert [n.label for n in normalize(RAW_PLAN).walk()] == [
        "Limit",
        "Nested Loop Semi Join",
        "Index Scan Backward using ix_content_created_id on content_items_auto",
        "Index Only Scan using content_tags_pkey on content_tags",
    ]
    assert _node("Hash Join", join_type="Left").label == "Hash Left Join"
    assert _node("Hash Join", join_type="Inner").label == "Hash Join"
    sub = _node("Seq Scan", relation="content_tags", subplan="SubPlan 1", parent="SubPlan")
    assert sub.described == "SubPlan 1: Seq Scan on content_tags"


def test_diff_names_the_replaced_scan() -> None:
    """An index scan turned sequential is named as 'index scan -> seq scan', with its place."""
    index = _node(
        "Index Scan", relation="content_items_auto", index="ix_content_created_id", parent="Outer"
    )
    seq = _node("Seq Scan", relation="content_items_auto", parent="Outer")
    a = _node("Limit", index)
    b = _node("Limit", seq)
    assert diff_shapes(a, a) == []
    assert diff_shapes(a, b) == [
        "Index Scan using ix_content_created_id on content_items_auto -> "
        "Seq Scan on content_items_auto (at Limit)"
    ]
    # Below a replaced join the scans are still named, per relation.
    c = _node("Limit", _node("Sort", _node("Hash Join", seq, join_type="Inner"), parent="Outer"))
    lines = diff_shapes(_node("Limit", _node("Nested Loop", index, parent="Outer")), c)
    assert lines[0] == "Nested Loop -> Sort (at Limit)"
    assert (
        "Index Scan using ix_content_created_id on content_items_auto -> "
        "Seq Scan on content_items_auto"
    ) in lines


def test_diff_sees_swapped_join_sides() -> None:
    """The same scans in other join positions are a different plan, and the diff says so."""
    outer = _node("Seq Scan", relation="users", parent="Outer")
    inner = _node("Seq Scan", relation="content_items", parent="Inner")
    a = _node("Hash Join", outer, inner)
    b = _node(
        "Hash Join",
        PlanNode("Seq Scan", relation="content_items", parent="Outer"),
        PlanNode("Seq Scan", relation="users", parent="Inner"),
    )
    assert diff_shapes(a, b)


def test_seq_scans_are_flagged_on_content_partitions_only() -> None:
    """A sequential scan on content_items* is flagged; one on users or tags is not."""
    shape = _node(
        "Append",
        _node("Seq Scan", relation="content_items_auto"),
        _node("Seq Scan", relation="content_items"),
        _node("Seq Scan", relation="users"),
        _node("Index Scan", relation="content_items_all", index="ix"),
    )
    assert seq_scans(shape) == ["Seq Scan on content_items_auto", "Seq Scan on content_items"]
    assert render_shape(shape)[1].endswith("<-- seq scan on a content partition")


@pytest.fixture(scope="module")
def tiny(seeded: Callable[[str], Workspace]) -> Workspace:
    return seeded("tiny")


def _request(data: Workspace, scenario: str = "canonical", size: int = 10) -> ContentRequest:
    with data.engine.connect() as conn:
        return build_request(scenario, data.roles, size, functools.partial(fetch_cursor, conn))


def _captured(engine: Engine, strategy: str, req: ContentRequest) -> list[Statement]:
    ctx = StrategyContext(engine)
    with capture(engine) as captured:
        get_strategy(strategy)(ctx, req)
    return captured.statements


@pytest.mark.parametrize("scenario", ["canonical", "no_tag", "deep_offset"])
def test_identical_sql_gets_identical_shapes(tiny: Workspace, scenario: str) -> None:
    """Strategies that send byte-identical SQL and parameters get identical plan shapes."""
    req = _request(tiny, scenario)
    groups: dict[tuple[Any, ...], list[tuple[str, list[PlanNode]]]] = {}
    for name in BUILTIN_STRATEGIES:
        statements = _captured(tiny.engine, name, req)
        key = tuple((s.sql, repr(s.params), s.server_side) for s in statements)
        groups.setdefault(key, []).append((name, plan_shapes(tiny.engine, statements)))
    shared = [members for members in groups.values() if len(members) > 1]
    # orm_scalars, orm_columns, core_select, core_text and dbapi_fetchall send the same SQL.
    assert shared, "expected several strategies to send the same SQL"
    for members in shared:
        first_name, first_shapes = members[0]
        for name, shapes in members[1:]:
            assert shapes == first_shapes, f"{name} and {first_name} sent the same SQL"


def test_planted_enable_indexscan_off_changes_the_shape(tiny: Workspace) -> None:
    """SET enable_indexscan = off on the connection changes the shape; the diff names each
    index scan that went, and RESET brings the original shape back."""
    (statement,) = _captured(tiny.engine, "orm_scalars", _request(tiny))
    with tiny.engine.connect() as conn:
        before = plan_shape(conn, statement)
        conn.exec_driver_sql("SET enable_indexscan = off")
        try:
            planted = plan_shape(conn, statement)
        finally:
            conn.exec_driver_sql("RESET enable_indexscan")
        after = plan_shape(conn, statement)
    assert after == before
    assert planted != before
    lines = diff_shapes(before, planted)
    gone = [n.label for n in before.walk() if "Index" in n.node_type and n.relation]
    assert gone, "the canonical plan on tiny should use an index"
    for label in gone:
        assert any(line.startswith(f"{label} -> ") for line in lines), (label, lines)
    # With index scans off, the content partitions are read sequentially: flagged.
    assert "Seq Scan on content_items_auto" in seq_scans(planted)
    assert seq_scans(before) == []


def test_a_sort_that_spills_in_parallel_workers_is_a_spill(tiny: Workspace) -> None:
    """A parallel plan on the real server, the leader kept out of it: the Sort's own keys are
    absent (the leader sorted nothing) and the 64kB sort spilled in the workers; the facts say
    so. A worker-less plan (no slot free) spills in the leader: a spill either way."""
    stmt = select(ContentItem).order_by(ContentItem.title, ContentItem.id).limit(100)
    sql = str(stmt.compile(tiny.engine, compile_kwargs={"literal_binds": True}))
    with tiny.engine.begin() as conn:
        for setting in (
            "parallel_setup_cost = 0",
            "parallel_tuple_cost = 0",
            "min_parallel_table_scan_size = 0",
            "max_parallel_workers_per_gather = 2",
            "parallel_leader_participation = off",
            "work_mem = '64kB'",
        ):
            conn.exec_driver_sql(f"SET LOCAL {setting}")
        (document,) = conn.exec_driver_sql(
            f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}"
        ).scalar_one()
    facts = plan_facts(document)
    launched = sum(f.workers or 0 for f in facts)
    sorts = [f for f in facts if f.node_type == "Sort"]
    assert sorts and all(f.spilled for f in sorts), [f.as_dict() for f in sorts]
    assert sum(f.temp_written for f in sorts) > 0
    if launched:
        raw = [n for n in _walk_raw(document["Plan"]) if n["Node Type"] == "Sort"]
        assert raw and not any("Sort Method" in n for n in raw), raw
        assert max(f.sorts_on_disk for f in sorts) >= 1


def test_an_incremental_sort_that_spills_is_a_spill(tiny: Workspace) -> None:
    """Ordered by an indexed key then an unindexed one, the planner sorts group by group
    (Incremental Sort), which names no ``Sort Method`` of its own: its groups' methods and disk
    space are read, so a spill under 64kB is a spill."""
    stmt = select(ContentItem).order_by(ContentItem.content_type, ContentItem.title).limit(500)
    sql = str(stmt.compile(tiny.engine, compile_kwargs={"literal_binds": True}))
    with tiny.engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL work_mem = '64kB'")
        (document,) = conn.exec_driver_sql(
            f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}"
        ).scalar_one()
    (fact,) = [f for f in plan_facts(document) if f.node_type == "Incremental Sort"]
    assert fact.spilled and fact.sort_method == "external merge", fact.as_dict()
    assert fact.sort_space_type == "Disk" and fact.temp_written > 0


def _walk_raw(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", ()):
        yield from _walk_raw(child)


def test_server_side_cursor_is_explained_as_a_cursor(tiny: Workspace) -> None:
    """yield_per's statement is explained as DECLARE ... CURSOR FOR, as it was sent."""
    (statement,) = _captured(tiny.engine, "orm_yield_per", _request(tiny))
    assert statement.server_side
    (shape,) = plan_shapes(tiny.engine, [statement])
    assert shape.node_type == "Limit"


def test_default_engine_runs_an_unnamed_custom_plan(tiny: Workspace) -> None:
    """With psycopg's defaults and a rollback per request nothing is prepared: custom plan."""
    req = _request(tiny)
    fn = get_strategy("orm_scalars")
    ctx = StrategyContext(tiny.engine)
    for _ in range(7):  # beyond psycopg's prepare_threshold of 5
        fn(ctx, req)
    (mode,) = probe_plan_modes(tiny.engine, lambda: fn(ctx, req))
    assert mode.plan == "custom" and not mode.prepared, mode


@pytest.fixture
def prepared_engine(
    pg_server: PgServer, ormbench_settings: Settings, tiny: Workspace
) -> Iterator[Callable[[str], Engine]]:
    """Engines preparing every statement at once (prepare_threshold=0) under a plan_cache_mode."""
    engines: list[Engine] = []

    def make(cache_mode: str) -> Engine:
        engine = make_engine(pg_server, f"{ormbench_settings.pg_schema}_tiny")

        @event.listens_for(engine, "connect")
        def setup(dbapi_connection: Any, record: Any) -> None:
            dbapi_connection.prepare_threshold = 0
            dbapi_connection.autocommit = True  # SET outside a transaction: it must stick
            dbapi_connection.execute(f"SET plan_cache_mode = {cache_mode}")
            dbapi_connection.autocommit = False

        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()


@pytest.mark.parametrize(
    ("cache_mode", "expected"),
    [("force_generic_plan", "generic"), ("force_custom_plan", "custom")],
)
@pytest.mark.parametrize("strategy", ["orm_scalars", "dbapi_fetchall"])
def test_prepared_statement_reports_the_plan_that_ran(
    tiny: Workspace,
    prepared_engine: Callable[[str], Engine],
    cache_mode: str,
    expected: str,
    strategy: str,
) -> None:
    """A server-side prepared statement reports generic or custom from pg_prepared_statements."""
    engine = prepared_engine(cache_mode)
    fn = get_strategy(strategy)
    ctx = StrategyContext(engine)
    req = _request(tiny)
    fn(ctx, req)
    (mode,) = probe_plan_modes(engine, lambda: fn(ctx, req))
    assert mode == PlanMode(mode.plan, True, mode.evidence)
    assert mode.plan == expected, mode.evidence
    assert f"{expected}_plans" in mode.evidence


def test_paired_extra_info_carries_the_plans(tiny: Workspace) -> None:
    """prepare() stores each captured statement's shape and plan mode; extra_info exposes them
    as 'plans' and 'plan_modes' (the default engine: an unnamed statement, its custom plan)."""
    req = _request(tiny)
    prepared = prepare(Case("canonical", 10, "orm_scalars"), StrategyContext(tiny.engine), req)
    info = extra_info(prepared, [])
    assert len(info["plans"]) == info["statements"] == 1
    (statement,) = _captured(tiny.engine, "orm_scalars", req)
    assert PlanNode.from_dict(info["plans"][0]) == plan_shapes(tiny.engine, [statement])[0]
    assert info["plan_modes"] == [{"plan": "custom", "prepared": False}]


def _prepared(engine: Engine) -> list[tuple[int, str, int]]:
    """(backend pid, name, generic_plans) of the pooled connection's prepared page queries
    (prepare_threshold=0 prepares the dialect's own first queries too: not these)."""
    with engine.connect() as conn:
        # prepare=False: this query must not become one of the statements it lists.
        rows = (
            conn.connection.dbapi_connection.execute(
                "SELECT pg_backend_pid(), name, generic_plans FROM pg_prepared_statements "
                "WHERE NOT from_sql AND statement LIKE '%content_items%' ORDER BY name",
                prepare=False,
            )
        ).fetchall()
    return [tuple(row) for row in rows]


def test_plan_shapes_leave_the_pooled_connections_prepared_statements(
    pg_server: PgServer, ormbench_settings: Settings, tiny: Workspace
) -> None:
    """The replay behind plan_shapes never touches the pooled connection: its prepared
    statement (a primed generic plan, as the generic_plan pathology's) survives, same name,
    same backend, and the next execution runs it again (generic_plans one up)."""
    engine = make_engine(
        pg_server, f"{ormbench_settings.pg_schema}_tiny", isolation_level="AUTOCOMMIT"
    )

    @event.listens_for(engine, "connect")
    def setup(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.prepare_threshold = 0
        dbapi_connection.execute("SET plan_cache_mode = force_generic_plan")

    try:
        fn = get_strategy("dbapi_fetchall")
        ctx = StrategyContext(engine)
        req = _request(tiny)
        statements = _captured(engine, "dbapi_fetchall", req)
        [(pid, name, generic)] = _prepared(engine)
        assert generic == 1
        (shape,) = plan_shapes(engine, statements)
        assert shape is not None and shape.node_type == "Limit"
        fn(ctx, req)
        assert _prepared(engine) == [(pid, name, generic + 1)]
        assert engine.pool.checkedin() == 1  # the replay's connection never joined the pool
    finally:
        engine.dispose()
