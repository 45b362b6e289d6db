"""Explain's library without a server: statements classified for the replay and normalized,
--vs pairing by normalized SQL (an extra leading statement shifts nothing), parallel plans
read without negative times, no generic plan without evidence, output that collapses repeats
and stays aligned, and mechanisms that match the schema."""

from __future__ import annotations

from ormbench.explain import explain_schema
from ormbench.explain.compare import pair, sql_diff
from ormbench.explain.mechanisms import _RANK, groups
from ormbench.explain.render import _cache_cell, _members, phase_lines
from ormbench.measure.capture import Statement, normalized_sql, statement_kind
from ormbench.measure.phases import PHASES, PhaseTable, ServerTime
from ormbench.measure.plans import _decide, plan_facts

PAGE = "SELECT a, b FROM t WHERE x = %(x)s ORDER BY a LIMIT %(limit)s"
LAZY = "SELECT u.name FROM u WHERE u.id = %(pk_1)s"


def test_statement_kinds() -> None:
    """EXPLAIN takes queries; SET, SET LOCAL and set_config are state; BEGIN/COMMIT are
    boundaries; DDL and the rest are other (replayed in a savepoint)."""
    cases = {
        "SELECT 1": "query",
        "  /* c */ WITH q AS (SELECT 1) SELECT * FROM q": "query",
        "UPDATE t SET a = 1": "query",
        "SET LOCAL work_mem = '64kB'": "state",
        "set search_path = x": "state",
        "RESET work_mem": "state",
        "SELECT set_config('work_mem', '64kB', true)": "state",
        "SELECT pg_catalog.set_config(%(n)s, %(v)s, false)": "state",
        "COMMIT": "transaction",
        "BEGIN": "transaction",
        "SAVEPOINT s1": "transaction",
        "CREATE TEMP TABLE x (a int)": "other",
        "LOCK TABLE t": "other",
    }
    assert {sql: statement_kind(sql) for sql in cases} == cases
    assert Statement("SET LOCAL work_mem = '1MB'", None).local
    assert Statement("SELECT set_config('a', 'b', true)", None).local
    assert not Statement("SET work_mem = '1MB'", None).local


def test_normalized_sql_groups_values_out() -> None:
    """Parameters and literals become ?, IN lists one ?, ...: an N+1's statements are equal."""
    assert normalized_sql("SELECT * FROM t WHERE id IN (%(id_1)s, %(id_2)s) AND s = 'x''y'") == (
        "SELECT * FROM t WHERE id IN (?, ...) AND s = ?"
    )
    assert normalized_sql("SELECT\n  a FROM t1 WHERE b = 5") == "SELECT a FROM t1 WHERE b = ?"
    lazy = [Statement(LAZY, {"pk_1": i}) for i in range(3)]
    assert groups([Statement(PAGE, {}), *lazy]) == {
        normalized_sql(PAGE): [0],
        normalized_sql(LAZY): [1, 2, 3],
    }


def test_pairing_is_by_normalized_sql_not_position() -> None:
    """One extra leading statement (a SET LOCAL) pairs the page with the page, and shows as
    removed; a statement whose text changed pairs with its counterpart."""
    a = [Statement("SET LOCAL work_mem = '64kB'", None), Statement(PAGE, {"x": 1})]
    b = [Statement(PAGE, {"x": 1})]
    paired = pair(a, b)
    assert paired.pairs == ((1, 0),) and paired.only_a == (0,) and paired.only_b == ()
    diff = sql_diff(a, b)
    assert diff == ["2 statements -> 1 statements", "[1] removed `SET LOCAL work_mem = ?`"]
    changed = [Statement(PAGE.replace("ORDER BY a", "ORDER BY a DESC"), {"x": 1})]
    assert pair(b, changed).pairs == ((0, 0),)
    n_plus_one = [Statement(PAGE, {}), *(Statement(LAZY, {"pk_1": i}) for i in range(100))]
    collapsed = sql_diff(n_plus_one, [Statement(PAGE, {})])
    assert collapsed[-1].startswith("[2]-[101] removed 100 x `SELECT u.name FROM u")


def test_parameterless_statement_is_never_generic() -> None:
    """Without parameters the one plan is custom whatever the counters or plan_cache_mode."""
    moved = {"_pg3_0": (1, 0)}
    for params in (None, {}, []):
        mode = _decide({}, moved, params, "force_generic_plan")
        assert mode.plan == "custom" and "no parameters" in mode.evidence
    assert _decide({}, moved, {"x": 1}, "auto").plan == "generic"


def _node(node_type: str, total_ms: float, loops: int, rows: int, *children: dict, **kw) -> dict:
    return {
        "Node Type": node_type,
        "Actual Total Time": total_ms,
        "Actual Loops": loops,
        "Actual Rows": rows,
        "Plan Rows": kw.pop("plan_rows", rows),
        "Plans": list(children),
        **kw,
    }


def test_parallel_plan_has_no_negative_exclusive_time() -> None:
    """Below a Gather Merge the nodes run in 3 processes: per-loop times are wall times, so
    the Gather Merge's own time is its total less one process's, never negative."""
    scan = _node("Seq Scan", 30.0, 3, 15000, **{"Relation Name": "t", "plan_rows": 16000})
    sort = _node(
        "Sort", 40.0, 3, 100, scan, **{"Sort Method": "top-N heapsort", "Sort Space Used": 30}
    )
    gather = _node("Gather Merge", 45.0, 1, 300, sort, **{"Workers Launched": 2})
    facts = plan_facts({"Plan": _node("Limit", 45.5, 1, 100, gather)})
    by_type = {f.node_type: f for f in facts}
    assert all(f.exclusive_ms >= 0 for f in facts)
    assert round(by_type["Gather Merge"].exclusive_ms, 6) == 5.0
    assert round(by_type["Sort"].exclusive_ms, 6) == 10.0
    assert by_type["Sort"].input_rows == 45000
    assert by_type["Sort"].below_limit and by_type["Sort"].misestimate == 1.0
    assert by_type["Gather Merge"].workers == 2


def test_spill_and_misestimate_facts() -> None:
    """An external sort and a multi-batch hash are spills; more rows than estimated is a
    misestimate even below a Limit."""
    spilled = _node("Sort", 5, 1, 10, **{"Sort Method": "external merge", "Temp Written Blocks": 9})
    hashed = _node("Hash", 5, 1, 10, **{"Hash Batches": 8, "Original Hash Batches": 1})
    under = _node("Index Scan", 1, 1, 1476, plan_rows=1)
    facts = plan_facts({"Plan": _node("Limit", 11, 1, 10, spilled, hashed, under)})
    assert [f.spilled for f in facts] == [False, True, True, False]
    assert facts[1].temp_written == 9
    assert facts[3].misestimate == 1476


def test_a_spill_in_a_worker_is_a_spill() -> None:
    """Below a Gather the node's Sort keys are the leader's: a worker that sorted on disk
    while the leader's share fit in memory makes the node a spill, with the worker's figures."""
    workers = [
        {"Worker Number": 0, "Sort Method": "external merge", "Sort Space Used": 200,
         "Sort Space Type": "Disk"},
        {"Worker Number": 1, "Sort Method": "quicksort", "Sort Space Used": 60,
         "Sort Space Type": "Memory"},
    ]  # fmt: skip
    sort = _node(
        "Sort", 20.0, 3, 700, **{"Sort Method": "quicksort", "Sort Space Used": 50,
                                  "Sort Space Type": "Memory", "Workers": workers},
    )  # fmt: skip
    facts = plan_facts({"Plan": _node("Gather Merge", 25.0, 1, 2100, sort)})
    (fact,) = [f for f in facts if f.node_type == "Sort"]
    assert fact.spilled
    assert (fact.sort_method, fact.sort_space_kb, fact.sort_space_type) == (
        "external merge", 200, "Disk",
    )  # fmt: skip
    assert (fact.sort_processes, fact.sorts_on_disk) == (3, 1)
    assert fact.sorts_in_processes == "1 of 3 processes"
    leader_only = plan_facts({"Plan": _node("Sort", 1.0, 1, 5, **{"Sort Method": "quicksort"})})
    assert (leader_only[0].sort_processes, leader_only[0].sorts_on_disk) == (1, 0)
    assert leader_only[0].sorts_in_processes == ""
    assert plan_facts({"Plan": _node("Seq Scan", 1.0, 1, 5)})[0].sort_processes is None


def test_incremental_sort_groups_are_read_in_every_process() -> None:
    """An Incremental Sort reports its sorts per kind of group, in the leader and each worker:
    a worker's pre-sorted groups that went to disk make the node a spill."""
    memory = {
        "Sort Methods Used": ["quicksort"],
        "Sort Space Memory": {"Average Sort Space Used": 30, "Peak Sort Space Used": 40},
    }
    disk = {
        "Sort Methods Used": ["quicksort", "external merge"],
        "Sort Space Memory": {"Average Sort Space Used": 30, "Peak Sort Space Used": 50},
        "Sort Space Disk": {"Average Sort Space Used": 900, "Peak Sort Space Used": 1200},
    }
    node = _node(
        "Incremental Sort", 9.0, 2, 100, **{"Full-sort Groups": memory, "Workers": [
            {"Worker Number": 0, "Full-sort Groups": memory, "Pre-sorted Groups": disk}]},
    )  # fmt: skip
    (fact,) = plan_facts({"Plan": node})
    assert fact.spilled
    assert (fact.sort_method, fact.sort_space_kb, fact.sort_space_type) == (
        "external merge", 1200, "Disk",
    )  # fmt: skip
    assert (fact.sort_processes, fact.sorts_on_disk) == (2, 1)
    (quiet,) = plan_facts({"Plan": _node("Incremental Sort", 1.0, 1, 5, **{
        "Full-sort Groups": memory})})  # fmt: skip
    assert not quiet.spilled and (quiet.sort_method, quiet.sort_space_kb) == ("quicksort", 40)


def test_a_hash_aggregate_that_spills_in_a_worker_is_a_spill() -> None:
    """A HashAggregate's batches are the leader's at the node and each worker's in Workers."""
    workers = [{"Worker Number": 0, "HashAgg Batches": 5, "Disk Usage": 2048}]
    agg = _node("Aggregate", 9.0, 2, 10, **{"HashAgg Batches": 1, "Workers": workers})
    (fact,) = plan_facts({"Plan": agg})
    assert fact.spilled and fact.hash_batches == 5
    (alone,) = plan_facts({"Plan": _node("Aggregate", 1.0, 1, 5, **{"HashAgg Batches": 1})})
    assert not alone.spilled


def _table(cache: tuple[str, ...], name: str = "x") -> PhaseTable:
    phases = {p: 1_000_000 for p in PHASES}
    return PhaseTable(
        mode="warm",
        strategy=name,
        repeats=3,
        phases=phases,
        total_ns=sum(phases.values()),
        instrumented_total_ns=sum(phases.values()),
        cache=cache,
        server=(ServerTime(1, 1, 0, 0, None),),
        orm=True,
    )


def test_output_collapses_and_aligns() -> None:
    """101 cache statuses read 'miss, hit x100'; columns stay aligned for long names."""
    assert _cache_cell(("miss", *["hit"] * 100)) == "miss, hit x100"
    assert _members([1, 2, 3]) == "[2]-[4] x3"
    assert _members([1, 21, 41, 61]) == "[2], [22], [42], ... x4"
    long = "a_strategy_name_far_longer_than_fifteen_characters"
    lines = phase_lines([(f"{long} warm", _table(("hit",) * 101)), ("short warm", _table(()))])
    rows = [line for line in lines if line.strip() and not line.strip().startswith(("-", "!"))]
    assert len({len(line) for line in rows}) == 1, "\n".join(lines)


def test_schema_lists_every_mechanism() -> None:
    """The schema's mechanism enum is exactly the mechanisms the library can name."""
    enum = explain_schema()["$defs"]["finding"]["properties"]["mechanism"]["enum"]
    assert sorted(enum) == sorted(_RANK)


def test_parallel_plan_never_makes_wire_negative() -> None:
    """A parallel plan whose EXPLAIN ANALYZE took longer than the cursor waited: server time
    is capped at the cursor time with a note, wire is 0, no 'negative' warning, same sum."""
    from ormbench.measure.phases import _Sample, _ServerRuns, _table
    from ormbench.measure.plans import PlanNode

    sample = _Sample(10_000_000, 1_000_000, 100, 100, 0, 8_000_000, 0, ("hit",), True)
    runs = _ServerRuns.empty(1)
    runs.planning[0].append(1_000_000)
    runs.execution[0].append(9_000_000)
    gather = PlanNode("Gather", children=(PlanNode("Seq Scan", relation="t"),))
    table = _table("warm", "x", [11_000_000] * 3, [sample] * 3, runs, [gather], 0.1)
    assert table.phases["wire"] == 0
    assert table.phases["server_execution"] == 7_000_000
    assert table.notes and table.notes[0].startswith("parallel plan:")
    assert not any("negative" in w for w in table.warnings)
    serial = _table("warm", "x", [11_000_000] * 3, [sample] * 3, runs, [PlanNode("Seq Scan")], 0.1)
    assert serial.phases["wire"] == -2_000_000 and not serial.notes
    assert any("negative" in w for w in serial.warnings)
