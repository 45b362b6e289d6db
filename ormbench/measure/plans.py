"""Plan shapes of the statements a strategy really sent, diffable, plus which plan ran.

The production team compared an ORM timing with psql running another statement and never
looked at a plan. Here every captured statement (exactly its SQL and its parameters) goes
through ``EXPLAIN (COSTS OFF, FORMAT JSON)`` and is reduced to a *shape*: node types,
relations, indexes, join types, scan directions, parent relationships and subplan names.
Costs, row counts, timings, workers, aliases and conditions are dropped, so two shapes are
equal exactly when PostgreSQL chose the same plan, and ``diff_shapes`` names what changed.

Parameters are bound as the strategy bound them (psycopg's extended protocol, unnamed
statement), so the planner sees the values and makes the same custom plan the strategy got.
A statement sent through a server-side cursor (``yield_per``) is explained as
``DECLARE ... CURSOR FOR``: PostgreSQL plans cursors for ``cursor_tuple_fraction`` of the
rows, which can be another plan than the plain SELECT's.

Which plan ran, generic or custom (``probe_plan_modes``): psycopg prepares a statement
server-side after ``prepare_threshold`` executions on one connection, and PostgreSQL may then
run a generic plan. The probe runs the strategy once more with cursors that read the
connection's own ``pg_prepared_statements`` (PostgreSQL 14+) right before and after each
statement: a named statement whose ``generic_plans`` or ``custom_plans`` counter moved is the
plan that ran. A statement that moved no counter ran unnamed, planned at bind time: a custom
plan unless ``plan_cache_mode`` forces the generic one (or it has no parameters, when the two
are the same plan).

What ran, replayed (``replay``): a page's statements run in order on one connection, inside a
transaction that is rolled back, so that each query is explained under the session state it
ran with. Session-state statements (SET, SET LOCAL, ``set_config``) are executed, never
explained; transaction control is kept as boundaries (at each one the replay rolls back to a
savepoint, which ends SET LOCAL, and re-applies the session-level settings); anything else
(DDL, ...) runs inside a savepoint, and a failure is recorded, never raised. The facts of a
plan (``plan_facts``) come from ``EXPLAIN (ANALYZE, BUFFERS)`` of that replay: per node the
estimated and actual rows and loops, sort method and space, temp blocks, hash batches, and an
exclusive time that reads parallel plans right (a worker's node runs beside the others, so
its time is per process, not per loop).
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import psycopg
from psycopg.types.string import TextLoader
from sqlalchemy import Connection, Engine

from ormbench.measure.capture import Statement, cursor_classes

# The content table and its partitions: a sequential scan on any of them reads every row of
# a partition of up to a million rows, the failure the suite exists to catch.
CONTENT_RELATIONS: frozenset[str] = frozenset(
    {"content_items", "content_items_auto", "content_items_all"}
)
# EXPLAIN options for a shape: no ANALYZE (the shape needs no execution), no costs (noise).
SHAPE_OPTIONS = "COSTS OFF, FORMAT JSON"
# Cursor name used to explain statements that ran through a server-side cursor.
EXPLAIN_CURSOR = "ormbench_explain"
# First server version with pg_prepared_statements.generic_plans/custom_plans (PG 14).
PLAN_COUNTERS_SINCE = 140000
# EXPLAIN options of the replay whose plans explain shows and compares: what ran, per node.
FACTS_OPTIONS = "ANALYZE, BUFFERS, FORMAT JSON"
# Savepoints of a replay: one per captured transaction, one around each risky statement.
REPLAY_SAVEPOINT = "ormbench_replay"
GUARD_SAVEPOINT = "ormbench_guard"
# Settings read after each explained statement of a facts replay (the mechanisms cite them).
FACT_SETTINGS: tuple[str, ...] = ("work_mem",)
# Nodes whose children run in parallel workers (and the leader).
GATHER_NODES = frozenset({"Gather", "Gather Merge"})
# Nodes whose input (their first child's rows) the mechanisms compare with what they return.
_INPUT_NODES = frozenset({"Sort", "Incremental Sort", "Limit"})

# How EXPLAIN's text format spells a join of a non-inner type, e.g. "Nested Loop Semi Join".
_JOIN_NAMES: dict[str, str] = {
    "Nested Loop": "Nested Loop {} Join",
    "Hash Join": "Hash {} Join",
    "Merge Join": "Merge {} Join",
}

PlanKind = Literal["custom", "generic", "unknown"]


@dataclass(frozen=True)
class PlanNode:
    """One node of a normalized plan shape; ``children`` in EXPLAIN's order."""

    node_type: str
    relation: str | None = None
    index: str | None = None
    join_type: str | None = None
    direction: str | None = None
    parent: str | None = None
    subplan: str | None = None
    children: tuple[PlanNode, ...] = ()

    @property
    def label(self) -> str:
        """The node as EXPLAIN's text format names it, e.g. ``Index Scan Backward using ix on t``.

        Forward scans say nothing about direction, as in EXPLAIN's own text output.
        """
        text = self.node_type
        if self.join_type and self.join_type != "Inner" and self.node_type in _JOIN_NAMES:
            text = _JOIN_NAMES[self.node_type].format(self.join_type)
        if self.direction == "Backward":
            text += " Backward"
        if self.index:
            text += f" using {self.index}"
        if self.relation:
            text += f" on {self.relation}"
        return text

    @property
    def described(self) -> str:
        """``label`` plus the subplan name, how the node hangs below its parent."""
        return f"{self.subplan}: {self.label}" if self.subplan else self.label

    def walk(self) -> Iterator[PlanNode]:
        """This node and every node below it, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()

    def as_dict(self) -> dict[str, Any]:
        """JSON form (the ``plan_node`` of docs/explain-json.md)."""
        return {
            "node_type": self.node_type,
            "relation": self.relation,
            "index": self.index,
            "join_type": self.join_type,
            "direction": self.direction,
            "parent": self.parent,
            "subplan": self.subplan,
            "children": [c.as_dict() for c in self.children],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlanNode:
        """The node ``as_dict`` wrote (e.g. from a saved benchmark's ``plans``)."""
        return cls(
            node_type=data["node_type"],
            relation=data.get("relation"),
            index=data.get("index"),
            join_type=data.get("join_type"),
            direction=data.get("direction"),
            parent=data.get("parent"),
            subplan=data.get("subplan"),
            children=tuple(cls.from_dict(c) for c in data.get("children", ())),
        )


def normalize(explain: Any) -> PlanNode:
    """The shape of one ``EXPLAIN (FORMAT JSON)`` result (the list, its item, or a ``Plan``)."""
    if isinstance(explain, list):
        explain = explain[0]
    node = explain.get("Plan", explain)
    return PlanNode(
        node_type=node["Node Type"],
        relation=node.get("Relation Name"),
        index=node.get("Index Name"),
        join_type=node.get("Join Type"),
        # Only index scans have a meaningful direction; Seq Scan reports none in JSON.
        direction=node.get("Scan Direction"),
        parent=node.get("Parent Relationship"),
        subplan=node.get("Subplan Name"),
        children=tuple(normalize(child) for child in node.get("Plans", ())),
    )


def explain_sql(statement: Statement, options: str = SHAPE_OPTIONS) -> str:
    """``EXPLAIN (options)`` of the statement as it was sent (server-side cursors as DECLARE)."""
    sql = statement.sql
    if statement.server_side:
        sql = f"DECLARE {EXPLAIN_CURSOR} CURSOR FOR {sql}"
    return f"EXPLAIN ({options}) {sql}"


def dbapi_connection(conn: Any) -> psycopg.Connection:
    """The psycopg connection behind a SQLAlchemy Connection, a pool proxy, or itself."""
    if isinstance(conn, Connection):
        conn = conn.connection
    return getattr(conn, "dbapi_connection", conn)


def explain(conn: Any, statement: Statement, options: str = SHAPE_OPTIONS) -> dict[str, Any]:
    """The EXPLAIN JSON document (its one top item) of ``statement`` on ``conn``.

    A plain ``psycopg.Cursor`` is used whatever the connection's cursor factory is, so an
    active statement capture never records the EXPLAIN itself. The caller owns the
    transaction: EXPLAIN ANALYZE executes the statement.
    """
    raw = dbapi_connection(conn)
    with psycopg.Cursor(raw) as cursor:
        # Read the plan as text and parse it here: the connection's JSON loader may be a
        # CountingLoader whose counts must stay the strategy's own.
        cursor.adapters.register_loader("json", TextLoader)
        cursor.execute(explain_sql(statement, options), statement.params, prepare=False)
        row = cursor.fetchone()
    document = json.loads(row[0])
    return document[0] if isinstance(document, list) else document


def plan_shape(conn: Any, statement: Statement) -> PlanNode:
    """The normalized plan shape of one captured statement, planned on ``conn``."""
    return normalize(explain(conn, statement))


def plan_shapes(engine: Engine, statements: Sequence[Statement]) -> list[PlanNode | None]:
    """Shapes of the statements, replayed in order (``replay``): None for a statement that is
    not a query or could not be explained.

    The replay runs on a connection of its own, closed afterwards: opened by a copy of
    ``engine``'s pool (``Pool.recreate``: same connect arguments and connect events, so
    primed as every connection of ``engine`` is), never by the pool the strategy runs from.
    The replay's rollback makes psycopg forget its prepared statements and send DEALLOCATE
    ALL; on a pooled connection that would silently disarm a primed generic plan (the
    ``generic_plan`` pathology) before its timing. A second checkout of ``engine`` would not
    do either: its pool would keep two connection records and hand them out in turn.
    """
    pool = engine.pool.recreate()
    try:
        conn = pool.connect()
        try:
            replayed = replay(conn, statements)
        finally:
            conn.close()
    finally:
        pool.dispose()
    return [normalize(r.document) if r.document else None for r in replayed]


def seq_scans(shape: PlanNode) -> list[str]:
    """Labels of sequential scans on a content partition (the flag explain prints)."""
    return [
        node.label
        for node in shape.walk()
        if node.node_type == "Seq Scan" and node.relation in CONTENT_RELATIONS
    ]


def render_shape(shape: PlanNode, indent: str = "  ") -> list[str]:
    """The shape as indented text lines, one node per line, flagged scans marked."""
    lines: list[str] = []

    def add(node: PlanNode, depth: int) -> None:
        flag = (
            "   <-- seq scan on a content partition"
            if node.node_type == "Seq Scan" and node.relation in CONTENT_RELATIONS
            else ""
        )
        lines.append(f"{indent * depth}{node.described}{flag}")
        for child in node.children:
            add(child, depth + 1)

    add(shape, 0)
    return lines


def _scan_labels(shape: PlanNode) -> dict[str, Counter[str]]:
    by_relation: dict[str, Counter[str]] = {}
    for node in shape.walk():
        if node.relation:
            by_relation.setdefault(node.relation, Counter())[node.label] += 1
    return by_relation


def diff_shapes(a: PlanNode, b: PlanNode) -> list[str]:
    """What differs from shape ``a`` to shape ``b``; empty exactly when they are equal.

    Two kinds of lines, each ``<node in a> -> <node in b>``:

    * the first difference on every branch of the two trees walked side by side, with its
      position (``at Limit > Nested Loop``); below a difference the trees are not compared,
      as everything under a replaced node differs;
    * per relation, the scans that are gone paired with the scans that replaced them, e.g.
      ``Index Scan using ix_content_created_id on content_items_auto -> Seq Scan on
      content_items_auto``, so a changed access path is named even when it sits under a
      replaced join.
    """
    out: list[str] = []

    def walk(x: PlanNode, y: PlanNode, path: tuple[str, ...]) -> None:
        where = f" (at {' > '.join(path)})" if path else " (at the top)"
        if (x.described, x.parent) != (y.described, y.parent):
            out.append(f"{x.described} -> {y.described}{where}")
            return
        if len(x.children) != len(y.children):
            left = ", ".join(c.described for c in x.children) or "no children"
            right = ", ".join(c.described for c in y.children) or "no children"
            out.append(f"{x.described}: [{left}] -> [{right}]{where}")
            return
        for cx, cy in zip(x.children, y.children, strict=True):
            walk(cx, cy, (*path, x.label))

    walk(a, b, ())
    scans_a, scans_b = _scan_labels(a), _scan_labels(b)
    for relation in sorted(set(scans_a) | set(scans_b)):
        gone = list(
            (scans_a.get(relation, Counter()) - scans_b.get(relation, Counter())).elements()
        )
        new = list((scans_b.get(relation, Counter()) - scans_a.get(relation, Counter())).elements())
        for i in range(max(len(gone), len(new))):
            left = gone[i] if i < len(gone) else f"(no scan on {relation})"
            right = new[i] if i < len(new) else f"(no scan on {relation})"
            line = f"{left} -> {right}"
            if not any(existing.startswith(line) for existing in out):
                out.append(line)
    return out


@dataclass(frozen=True)
class Replayed:
    """One statement of a replay: its EXPLAIN document when it is a query, the settings in
    force after it (a facts replay), or why it could not run."""

    document: dict[str, Any] | None = None
    settings: Mapping[str, str] | None = None
    error: str | None = None


def _run(cursor: psycopg.Cursor, sql: str, params: Any = None) -> None:
    cursor.execute(sql, params, prepare=False)


def _guarded(cursor: psycopg.Cursor, run: Callable[[], Any]) -> tuple[Any, str | None]:
    """``run()`` inside a savepoint: a failure is rolled back and returned, never raised."""
    _run(cursor, f"SAVEPOINT {GUARD_SAVEPOINT}")
    try:
        value = run()
    except psycopg.Error as exc:
        _run(cursor, f"ROLLBACK TO SAVEPOINT {GUARD_SAVEPOINT}")
        _run(cursor, f"RELEASE SAVEPOINT {GUARD_SAVEPOINT}")
        return None, f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
    _run(cursor, f"RELEASE SAVEPOINT {GUARD_SAVEPOINT}")
    return value, None


def replay(
    conn: Any,
    statements: Sequence[Statement],
    options: str = SHAPE_OPTIONS,
    *,
    settings: Sequence[str] = (),
) -> list[Replayed]:
    """Replay ``statements`` in order on ``conn`` (module docstring), explaining the queries
    with ``options`` and reading ``settings`` after each; everything is rolled back."""
    raw = dbapi_connection(conn)
    out: list[Replayed] = []
    session_state: list[Statement] = []
    with raw.transaction(force_rollback=True), psycopg.Cursor(raw) as cursor:
        cursor.adapters.register_loader("json", TextLoader)
        _run(cursor, f"SAVEPOINT {REPLAY_SAVEPOINT}")
        transaction = statements[0].transaction if statements else 0
        for statement in statements:
            if statement.transaction != transaction:
                # The page committed or rolled back here: SET LOCAL ends, SET stays.
                transaction = statement.transaction
                _run(cursor, f"ROLLBACK TO SAVEPOINT {REPLAY_SAVEPOINT}")
                for state in session_state:
                    _guarded(cursor, lambda s=state: _run(cursor, s.sql, s.params))
            kind = statement.kind
            if kind == "query":
                document, error = _guarded(
                    cursor, lambda s=statement: _explain_on(cursor, s, options)
                )
            elif kind == "transaction":
                document, error = None, None
            else:
                document = None
                _, error = _guarded(cursor, lambda s=statement: _run(cursor, s.sql, s.params))
                if kind == "state" and error is None and not statement.local:
                    session_state.append(statement)
            values = None
            if settings and kind == "query":
                values = {}
                for name in settings:
                    _run(cursor, "SELECT current_setting(%s)", (name,))
                    values[name] = cursor.fetchone()[0]
            out.append(Replayed(document, values, error))
    return out


def _explain_on(cursor: psycopg.Cursor, statement: Statement, options: str) -> dict[str, Any]:
    _run(cursor, explain_sql(statement, options), statement.params)
    row = cursor.fetchone()
    document = json.loads(row[0])
    return document[0] if isinstance(document, list) else document


def query_statements(statements: Sequence[Statement]) -> list[int]:
    """Indexes of the statements EXPLAIN takes (the ones that have a plan)."""
    return [i for i, s in enumerate(statements) if s.kind == "query"]


@dataclass(frozen=True)
class NodeFacts:
    """What one node of a plan did, from ``EXPLAIN (ANALYZE, BUFFERS)``.

    Rows are totals over the node's loops (``rows`` x ``loops``, estimated and actual);
    ``exclusive_ms`` is the node's own wall time, its children's taken off, with the nodes
    below a Gather counted per process, not per loop.
    """

    label: str
    node_type: str
    depth: int
    estimated_rows: float
    actual_rows: float
    loops: float
    exclusive_ms: float
    sort_method: str | None = None
    sort_space_kb: int | None = None
    sort_space_type: str | None = None
    # Below a Gather: the processes that sorted (leader and workers), and how many spilled.
    sort_processes: int | None = None
    sorts_on_disk: int = 0
    temp_read: int = 0
    temp_written: int = 0
    hash_batches: int | None = None
    original_hash_batches: int | None = None
    input_rows: float | None = None  # a Sort's or a Limit's child's actual rows
    workers: int | None = None
    # Below a Limit (or a Nested Loop's early stop) a node may stop before its estimate.
    below_limit: bool = False
    # Rows the node read and threw away by its filter (Filter, Join Filter, index recheck).
    removed_rows: float = 0.0

    @property
    def misestimate(self) -> float:
        """max(estimated, actual) / min(...), rows over all loops; 1.0 when they agree.

        Below a Limit, fewer rows than estimated is the Limit stopping the node early (the
        estimate is for a full run), not a misestimate: only more rows count there.
        """
        if self.below_limit and self.actual_rows <= self.estimated_rows:
            return 1.0
        low, high = sorted((self.estimated_rows, self.actual_rows))
        return high / max(low, 1.0)

    @property
    def sorts_in_processes(self) -> str:
        """``"1 of 3 processes"`` (sorted on disk, of those that sorted) below a Gather, else
        empty."""
        if (self.sort_processes or 1) <= 1:
            return ""
        return f"{self.sorts_on_disk} of {self.sort_processes} processes"

    @property
    def spilled(self) -> bool:
        return (
            self.sort_space_type == "Disk"
            or (self.sort_method or "").startswith("external")
            or (self.hash_batches or 1) > 1
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "depth": self.depth,
            "estimated_rows": self.estimated_rows,
            "actual_rows": self.actual_rows,
            "loops": self.loops,
            "misestimate": round(self.misestimate, 2),
            "exclusive_ms": round(self.exclusive_ms, 3),
            "sort_method": self.sort_method,
            "sort_space_kb": self.sort_space_kb,
            "sort_space_type": self.sort_space_type,
            "sort_processes": self.sort_processes,
            "sorts_on_disk": self.sorts_on_disk,
            "temp_read_blocks": self.temp_read,
            "temp_written_blocks": self.temp_written,
            "hash_batches": self.hash_batches,
            "input_rows": self.input_rows,
            "workers": self.workers,
            "removed_rows": self.removed_rows,
        }


def _wall_ms(node: Mapping[str, Any], processes: int) -> float:
    # Actual Total Time is per loop; below a Gather the loops run side by side in processes.
    loops = float(node.get("Actual Loops", 1) or 0)
    return float(node.get("Actual Total Time", 0.0)) * loops / max(processes, 1)


def _sorts_of(process: Mapping[str, Any]) -> list[tuple[str, int, str]]:
    """(method, kB, space type) of each sort one process reports for a node.

    A Sort says ``Sort Method``; an Incremental Sort sorts group by group and says it per kind
    of group (``Full-sort Groups``, ``Pre-sorted Groups``), with its methods and the peak
    space on disk when a group spilled.
    """
    if process.get("Sort Method"):
        return [
            (
                process["Sort Method"],
                int(process.get("Sort Space Used") or 0),
                process.get("Sort Space Type") or "Memory",
            )
        ]
    out = []
    for key in ("Full-sort Groups", "Pre-sorted Groups"):
        groups = process.get(key)
        if not groups or not groups.get("Sort Methods Used"):
            continue
        methods = groups["Sort Methods Used"]
        method = next((m for m in methods if m.startswith("external")), methods[0])
        kind = "Disk" if "Sort Space Disk" in groups else "Memory"
        space = groups.get(f"Sort Space {kind}", {}).get("Peak Sort Space Used", 0)
        out.append((method, int(space or 0), kind))
    return out


def _sort_info(
    node: Mapping[str, Any],
) -> tuple[str | None, int | None, str | None, int | None, int]:
    """The sort method, space and space type of the process that needed the most, how many
    processes sorted, and how many of them on disk.

    The node's own keys are the leader's only: below a Gather each worker reports its sort in
    ``Workers``, and a worker may spill while the leader's share fits in memory.
    """
    processes = [node, *node.get("Workers", ())]
    sorts = [_sorts_of(p) for p in processes]
    sorted_in = [s for s in sorts if s]
    if not sorted_in:
        return None, None, None, None, 0
    worst = max((x for s in sorted_in for x in s), key=lambda x: (x[2] == "Disk", x[1]))
    on_disk = sum(any(x[2] == "Disk" for x in s) for s in sorted_in)
    return worst[0], worst[1] or None, worst[2], len(sorted_in), on_disk


def _hash_batches(node: Mapping[str, Any]) -> int | None:
    """A Hash's batches (PostgreSQL already takes the workers' largest), or a HashAggregate's
    largest over the leader and each worker of ``Workers`` (each reports its own)."""
    if node.get("Hash Batches") is not None:
        return int(node["Hash Batches"])
    batches = [
        int(p["HashAgg Batches"])
        for p in (node, *node.get("Workers", ()))
        if p.get("HashAgg Batches") is not None
    ]
    return max(batches, default=None)


def plan_facts(document: Mapping[str, Any]) -> list[NodeFacts]:
    """Every node of an ``EXPLAIN (ANALYZE, ...)`` document, depth first (``walk`` order)."""
    out: list[NodeFacts] = []

    def visit(node: Mapping[str, Any], depth: int, processes: int, below: bool) -> None:
        children = node.get("Plans", ())
        inner = processes
        if node["Node Type"] in GATHER_NODES:
            launched = node.get("Workers Launched", node.get("Workers Planned", 0)) or 0
            # The leader runs the plan too unless parallel_leader_participation is off: its
            # loop is counted in the children's loops either way.
            child_loops = max((float(c.get("Actual Loops", 1) or 1) for c in children), default=1)
            inner = max(1, min(int(launched) + 1, round(child_loops)))
        wall = _wall_ms(node, processes)
        own = wall - sum(_wall_ms(c, inner) for c in children)
        loops = float(node.get("Actual Loops", 1) or 0)
        first_child = children[0] if children else None
        input_rows = (
            float(first_child.get("Actual Rows", 0)) * float(first_child.get("Actual Loops", 1))
            if first_child is not None
            and node["Node Type"] in ("Sort", "Limit", "Incremental Sort")
            else None
        )
        sort_method, sort_space_kb, sort_space_type, processes, on_disk = _sort_info(node)
        out.append(
            NodeFacts(
                label=normalize({"Plan": {**node, "Plans": []}}).label,
                node_type=node["Node Type"],
                depth=depth,
                estimated_rows=float(node.get("Plan Rows", 0)) * max(loops, 1.0),
                actual_rows=float(node.get("Actual Rows", 0)) * loops,
                loops=loops,
                exclusive_ms=max(own, 0.0),
                sort_method=sort_method,
                sort_space_kb=sort_space_kb,
                sort_space_type=sort_space_type,
                sort_processes=processes,
                sorts_on_disk=on_disk,
                temp_read=int(node.get("Temp Read Blocks", 0)),
                temp_written=int(node.get("Temp Written Blocks", 0)),
                hash_batches=_hash_batches(node),
                original_hash_batches=node.get("Original Hash Batches"),
                input_rows=input_rows,
                workers=node.get("Workers Launched"),
                below_limit=below,
                removed_rows=loops
                * sum(
                    float(node.get(key, 0))
                    for key in (
                        "Rows Removed by Filter",
                        "Rows Removed by Join Filter",
                        "Rows Removed by Index Recheck",
                    )
                ),
            )
        )
        stops = below or node["Node Type"] in ("Limit", "Nested Loop", "Merge Join")
        for child in children:
            visit(child, depth + 1, inner, stops)

    visit(document["Plan"], 0, 1, False)
    return out


def hottest(facts: Sequence[NodeFacts]) -> NodeFacts | None:
    """The node with the largest exclusive time (the first, on a tie)."""
    return max(facts, key=lambda f: f.exclusive_ms, default=None)


@dataclass(frozen=True)
class PlanMode:
    """Which plan one statement ran with, and the evidence for it."""

    plan: PlanKind
    prepared: bool
    evidence: str

    def as_dict(self) -> dict[str, Any]:
        return {"plan": self.plan, "prepared": self.prepared, "evidence": self.evidence}


# Statements seen by the active probe; probes do not nest (like captures).
_probed: list[PlanMode] | None = None


def _counters(conn: psycopg.Connection) -> dict[str, tuple[int, int]] | None:
    """Name -> (generic_plans, custom_plans) of the connection's protocol-level statements."""
    if conn.info.server_version < PLAN_COUNTERS_SINCE:
        return None
    with psycopg.Cursor(conn) as cursor:
        # prepare=False: the probe's own query must never become a prepared statement.
        cursor.execute(
            "SELECT name, generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE NOT from_sql",
            prepare=False,
        )
        return {name: (generic, custom) for name, generic, custom in cursor.fetchall()}


def _plan_cache_mode(conn: psycopg.Connection) -> str:
    with psycopg.Cursor(conn) as cursor:
        cursor.execute("SELECT current_setting('plan_cache_mode')", prepare=False)
        return cursor.fetchone()[0]


def _decide(
    before: dict[str, tuple[int, int]] | None,
    after: dict[str, tuple[int, int]] | None,
    params: Any,
    cache_mode: str,
) -> PlanMode:
    if not params:
        # Without parameters the generic plan is the custom plan: never a generic-plan trap.
        return PlanMode("custom", False, "no parameters: the one plan there is")
    if before is None or after is None:
        return PlanMode(
            "unknown", False, "server older than PostgreSQL 14: no pg_prepared_statements counters"
        )
    for name, (generic, custom) in after.items():
        was_generic, was_custom = before.get(name, (0, 0))
        if generic > was_generic:
            return PlanMode(
                "generic",
                True,
                f"prepared statement {name}: generic_plans {was_generic} -> {generic}",
            )
        if custom > was_custom:
            return PlanMode(
                "custom", True, f"prepared statement {name}: custom_plans {was_custom} -> {custom}"
            )
    if cache_mode == "force_generic_plan":
        return PlanMode("generic", False, "unnamed statement, plan_cache_mode=force_generic_plan")
    return PlanMode(
        "custom",
        False,
        f"unnamed statement, planned with its parameters: psycopg did not prepare it; "
        f"plan_cache_mode={cache_mode}",
    )


class _Probing:
    """Mixin for psycopg cursors: read the plan counters around each execute()."""

    def _before(self) -> dict[str, tuple[int, int]] | None:
        return _counters(self.connection) if _probed is not None else None  # type: ignore[attr-defined]

    def _after(self, before: dict[str, tuple[int, int]] | None, params: Any) -> None:
        if _probed is not None:
            conn = self.connection  # type: ignore[attr-defined]
            _probed.append(_decide(before, _counters(conn), params, _plan_cache_mode(conn)))


class ProbingCursor(_Probing, psycopg.Cursor):
    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        before = self._before()
        result = super().execute(query, params, **kwargs)
        self._after(before, params)
        return result


class ProbingServerCursor(_Probing, psycopg.ServerCursor):
    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        before = self._before()
        result = super().execute(query, params, **kwargs)
        self._after(before, params)
        return result


@contextlib.contextmanager
def probing(engine: Engine) -> Iterator[list[PlanMode]]:
    """Inside the block, record the plan mode of every statement sent through ``engine``.

    The probe adds queries on the same connection around each statement: use it on an
    execution of its own, never a timed one (as ``explain`` does).
    """
    global _probed
    if _probed is not None:
        raise RuntimeError("plan-mode probes do not nest")
    modes: list[PlanMode] = []
    _probed = modes
    try:
        with cursor_classes(engine, ProbingCursor, ProbingServerCursor):
            yield modes
    finally:
        _probed = None


def probe_plan_modes(engine: Engine, run: Callable[[], Any]) -> list[PlanMode]:
    """Run ``run`` once on ``engine`` and return the plan mode of each statement it sent."""
    with probing(engine) as modes:
        run()
    return modes


__all__ = [
    "CONTENT_RELATIONS",
    "FACTS_OPTIONS",
    "NodeFacts",
    "PlanMode",
    "PlanNode",
    "Replayed",
    "diff_shapes",
    "explain",
    "explain_sql",
    "hottest",
    "normalize",
    "plan_facts",
    "plan_shape",
    "plan_shapes",
    "probe_plan_modes",
    "probing",
    "query_statements",
    "render_shape",
    "replay",
    "seq_scans",
]
