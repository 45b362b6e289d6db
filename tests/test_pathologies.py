"""Every pathology is diagnosed by ``ormbench explain``'s analysis, and its trap stays contained.

The diagnosis tests (marker ``pathology``, opt-in like the benchmarks: ``pytest
tests/test_pathologies.py -m pathology``) run ``ormbench.pathologies.diagnose`` on the
canonical dataset and assert what explain's report says about each mechanism: statement
counts, rows fetched, plan shapes, generic/custom plans, SQL and plan comparison, the rows a
plan reads. Only exact, deterministic evidence; never a timing or a verdict's percentage.

The other tests run by default, on ``tiny`` or without a server: the catalogue's wiring, the
size-independent mechanisms (N+1 statement count, joined-row multiplication, the oracle
catching the hand-written SQL), and that traps never touch the shared dataset.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, text

from ormbench.data.generate import iter_dataset
from ormbench.measure.capture import Statement, capture
from ormbench.measure.plans import PlanNode, diff_shapes, explain, plan_shapes, seq_scans
from ormbench.pathologies import PATHOLOGIES, PROFILE, VARIANTS, ConnectionSpec, get_pathology
from ormbench.pathologies import connection as trap
from ormbench.pathologies.__main__ import main as pathologies_main
from ormbench.pathologies.diagnose import Diagnosis, diagnose
from ormbench.pathologies.exact_count import TOTAL_CAP
from ormbench.pathologies.paired import prepare_pair
from ormbench.pathologies.production_story import dbapi_handwritten_sql, orm_production_statement
from ormbench.pathologies.rows import CREATOR_COLUMN, TAGS_COLUMN
from ormbench.pg import PgServer
from ormbench.query.oracle import Oracle
from ormbench.query.scenarios import build_request
from ormbench.strategies import StrategyContext, get_strategy, label
from ormbench.workspace import Workspace

# Executions per phase table in the diagnosis tests: the phases are not asserted (timings),
# so one repeat keeps the slow pathologies (a second per execution) affordable.
DIAGNOSIS_REPEATS = 1
# Page size of the tiny-dataset checks: tiny's regular items show up within 100 rows.
TINY_PAGE_SIZE = 100


# -- the catalogue, without a server ----------------------------------------------------------


def test_catalogue_is_numbered_and_labelled() -> None:
    """Nine pathologies numbered 1-9, each variant a strategy with a docstring label."""
    assert [p.number for p in PATHOLOGIES.values()] == list(range(1, 10))
    for pathology in PATHOLOGIES.values():
        assert get_pathology(str(pathology.number)) is pathology
        for which in VARIANTS:
            variant = pathology.variant(which)
            assert label(variant.strategy), f"{pathology.name}/{which} has no label"
        assert pathology.bad != pathology.fixed


def test_connection_options_are_startup_settings() -> None:
    """A trap's settings become -c options of the connection, after its search_path."""
    options = trap._options(["copy", "data"], {"jit": "on", "plan_cache_mode": "auto"})
    assert options == "-c search_path=copy,data -c jit=on -c plan_cache_mode=auto"
    assert ConnectionSpec().describe() == "plain pooled connection"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["no_such_trap"], "unknown pathology 'no_such_trap'; choose one of: generic_plan"),
        (["--repeats", "0"], "--repeats must be a positive integer, got 0"),
    ],
)
def test_command_rejects_bad_input(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """ormbench pathologies: a mistake is one line and exit 2, before any server."""
    assert pathologies_main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ormbench: {message}")
    assert err.count("\n") == 1


# -- on tiny: size-independent mechanisms and trap hygiene ------------------------------------


@pytest.fixture(scope="module")
def tiny(seeded: Callable[[str], Workspace]) -> Workspace:
    """The tiny profile, seeded once in its own schema."""
    return seeded("tiny")


def _statements(engine: Engine, fn: Callable[[], Any]) -> tuple[Any, list[Statement]]:
    with capture(engine) as captured:
        result = fn()
    return result, list(captured.statements)


def test_lazy_loads_send_one_statement_per_row_and_creator(tiny: Workspace) -> None:
    """N+1: the lazy variant sends 1 + rows + distinct creators statements, the eager one 2."""
    pathology = get_pathology("lazy_loads")
    with tiny.engine.connect() as conn:
        req = replace(pathology.request(conn, tiny.roles), page_size=TINY_PAGE_SIZE)
    ctx = StrategyContext(tiny.engine)
    page, lazy = _statements(tiny.engine, lambda: pathology.bad.strategy(ctx, req))
    eager_page, eager = _statements(tiny.engine, lambda: pathology.fixed.strategy(ctx, req))
    creators = len(set(page.column("creator_id")))
    assert len(lazy) == 1 + len(page) + creators
    assert len(eager) == 2
    assert page.diff(eager_page, shared=True, total=False) == []


def test_joined_collection_fetches_one_row_per_tag(tiny: Workspace) -> None:
    """A joined collection fetches max(1, tags) wide rows per item; selectin one per item."""
    pathology = get_pathology("joined_collection")
    with tiny.engine.connect() as conn:
        req = pathology.request(conn, tiny.roles)
    ctx = StrategyContext(tiny.engine)
    page, joined = _statements(tiny.engine, lambda: pathology.bad.strategy(ctx, req))
    _, selectin = _statements(tiny.engine, lambda: pathology.fixed.strategy(ctx, req))
    tags = [len(names) for names in page.column(TAGS_COLUMN)]
    assert [s.rows_fetched for s in joined] == [sum(max(1, n) for n in tags)]
    assert [s.rows_fetched for s in selectin] == [len(page), sum(tags)]
    assert joined[0].rows_fetched > len(page)


def test_oracle_flags_the_handwritten_sql(tiny: Workspace) -> None:
    """The oracle agrees with the production statement and flags the hand-written SQL, which
    drops every regular item (production's 'regular' vs 'items')."""
    req = replace(build_request("canonical", tiny.roles, TINY_PAGE_SIZE), with_username=False)
    rows = iter_dataset(tiny.profile)
    expected = Oracle(rows.content(), rows.links(), rows.users).page(req)
    ctx = StrategyContext(tiny.engine)
    production = orm_production_statement(ctx, replace(req, with_username=True))
    handwritten = dbapi_handwritten_sql(ctx, req)
    assert "items" in expected.column("source_type")
    assert expected.diff(production.project(expected.columns)) == []
    problems = expected.diff(handwritten)
    assert problems and problems[0].startswith("ids differ")
    assert "items" not in handwritten.column("source_type")


def _indexes(engine: Engine, table: str) -> set[str]:
    with engine.connect() as conn:
        return set(
            conn.execute(
                text(
                    "SELECT indexname FROM pg_indexes "
                    "WHERE schemaname = current_schema() AND tablename = :t"
                ),
                {"t": table},
            ).scalars()
        )


def test_traps_leave_the_dataset_as_it_was(tiny: Workspace, pg_server: PgServer) -> None:
    """The unindexed trap reads a copy in its own schema; the dataset keeps every index, and
    no setting outlives the trap's connections."""
    schema = trap.current_schema(tiny.engine)
    before = _indexes(tiny.engine, "content_tags")
    pathology = get_pathology("unindexed_selectin")
    with trap.open_variant(pg_server, schema, pathology, "bad") as run:
        page = run.run()
        with run.engine.connect() as conn:
            assert conn.execute(text("SHOW jit")).scalar_one() == "on"
            where = conn.execute(
                text(
                    "SELECT n.nspname FROM pg_class c JOIN pg_namespace n "
                    "ON n.oid = c.relnamespace WHERE c.oid = to_regclass('content_tags')"
                )
            ).scalar_one()
        assert where == trap.unindexed_schema(schema)
    assert len(page) > 0
    assert _indexes(tiny.engine, "content_tags") == before
    assert {"content_tags_pkey", "ix_content_tags_content_source"} <= before
    with psycopg.connect(pg_server.conninfo, autocommit=True) as conn:
        copy = trap.unindexed_schema(schema)
        names = {
            row[0]
            for row in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = %s", [copy]
            )
        }
        assert names == {name for name, _ in trap.UNINDEXED_INDEXES}


# -- on canonical: what explain's analysis names --------------------------------------------


@pytest.fixture(scope="module")
def canonical(request: pytest.FixtureRequest, seeded: Callable[[str], Workspace]) -> Workspace:
    """The canonical dataset; opt-in like the pathology benchmarks (it seeds in ~80 s)."""
    if "pathology" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("pathology diagnoses need the canonical dataset: run with -m pathology")
    return seeded(PROFILE)


@pytest.fixture(scope="module")
def diagnosed(canonical: Workspace, pg_server: PgServer) -> Iterator[Callable[[str], Diagnosis]]:
    """Factory: the diagnosis of one pathology, computed once per module."""
    schema = trap.current_schema(canonical.engine)
    cache: dict[str, Diagnosis] = {}

    def get(name: str) -> Diagnosis:
        if name not in cache:
            cache[name] = diagnose(
                pg_server, schema, get_pathology(name), repeats=DIAGNOSIS_REPEATS
            )
        return cache[name]

    yield get


def _labels(shape: PlanNode) -> list[str]:
    return [node.label for node in shape.walk()]


def _scans(shape: PlanNode) -> set[str]:
    """How the plan reads each table: its scan nodes' labels."""
    return {node.label for node in shape.walk() if node.relation or node.index}


pathology = pytest.mark.pathology


@pathology
def test_generic_plan(diagnosed: Callable[[str], Diagnosis]) -> None:
    """1: same SQL; bad ran a prepared statement's generic plan (every link of the tag, then
    a sort), fixed a custom plan walking (created_at, id)."""
    d = diagnosed("generic_plan")
    bad, fixed = d.bad.report, d.fixed.report
    assert [(m.plan, m.prepared) for m in bad.modes] == [("generic", True)]
    assert [(m.plan, m.prepared) for m in fixed.modes] == [("custom", True)]
    assert d.comparison.same_sql and not d.comparison.same_plan
    assert "[1] generic plan -> custom plan" in d.comparison.plan_diff
    assert [r.index for r in d.bad.generic] == [0]
    generic = _labels(bad.shapes[0])
    assert "Index Only Scan using ix_content_tags_tag_source_content on content_tags" in generic
    assert "Sort" in generic
    custom = _labels(fixed.shapes[0])
    assert "Merge Append" in custom
    assert "Index Scan using content_items_auto_created_at_id_idx on content_items_auto" in custom
    assert d.comparison.same_page


@pathology
def test_lazy_loads(diagnosed: Callable[[str], Diagnosis]) -> None:
    """2: explain counts 1 + N + distinct creators statements for the lazy page, 2 eager."""
    d = diagnosed("lazy_loads")
    page = d.bad.report.page
    counters = d.bad.report.as_dict()["counters"]
    assert counters["statements"] == 1 + len(page) + len(set(page.column("creator_id")))
    assert d.fixed.report.as_dict()["counters"]["statements"] == 2
    assert f"{counters['statements']} plans -> 2 plans" in d.comparison.plan_diff
    assert page.column(CREATOR_COLUMN) == d.fixed.report.page.column(CREATOR_COLUMN)


@pathology
def test_joined_collection(diagnosed: Callable[[str], Diagnosis]) -> None:
    """3: the joined page statement fetches one wide row per item and tag, selectin one per
    item (and the tags by a second, narrow statement)."""
    d = diagnosed("joined_collection")
    bad, fixed = d.bad.report, d.fixed.report
    tags = [len(names) for names in bad.page.column(TAGS_COLUMN)]
    assert [s.rows_fetched for s in bad.statements] == [sum(max(1, n) for n in tags)]
    assert [s.rows_fetched for s in fixed.statements] == [len(fixed.page), sum(tags)]
    assert bad.as_dict()["counters"]["rows_fetched"] > len(bad.page)


@pathology
def test_unindexed_selectin(
    diagnosed: Callable[[str], Diagnosis], canonical: Workspace, pg_server: PgServer
) -> None:
    """4: the tags statement is a Seq Scan on content_tags, JIT-compiled; with the index it is
    index probes and no JIT (jit off)."""
    d = diagnosed("unindexed_selectin")
    bad, fixed = d.bad.report, d.fixed.report
    assert d.comparison.same_sql and not d.comparison.same_plan
    assert "Seq Scan on content_tags" in _labels(bad.shapes[1])
    assert "Seq Scan on content_tags" not in _labels(fixed.shapes[1])
    content_side = {"content_tags_pkey", "ix_content_tags_content_source"}
    assert {n.index for n in fixed.shapes[1].walk()} & content_side
    schema = trap.current_schema(canonical.engine)
    for which, report in (("bad", bad), ("fixed", fixed)):
        with (
            trap.open_variant(pg_server, schema, d.pathology, which) as run,
            run.engine.connect() as conn,
        ):
            # Plain EXPLAIN (costs on) reports the JIT compilation the plan's cost triggers.
            document = explain(conn, report.statements[1], "FORMAT JSON")
        jit = document.get("JIT", {}).get("Functions", 0)
        assert (jit > 0) == (which == "bad"), f"{which}: JIT functions {jit}"


@pathology
def test_cast_index(diagnosed: Callable[[str], Diagnosis]) -> None:
    """5: with creator_id::text no creator index appears in the plan; typed, one does."""
    d = diagnosed("cast_index")
    assert not d.comparison.same_sql

    def creator_indexes(shape: PlanNode) -> list[str]:
        return [n.index for n in shape.walk() if n.index and "creator" in n.index]

    assert creator_indexes(d.bad.report.shapes[0]) == []
    assert creator_indexes(d.fixed.report.shapes[0]) != []
    assert "creator_id AS TEXT" in d.bad.report.statements[0].sql


@pathology
def test_cursor_fraction(diagnosed: Callable[[str], Diagnosis], canonical: Workspace) -> None:
    """6: at cursor_tuple_fraction 0.1 the cursor walks (created_at, id) for a fast start, a
    plan the plain (non-streaming) fetch does not choose; at 1.0 the cursor, like the plain
    fetch, starts from the rare tag's links."""
    d = diagnosed("cursor_fraction")
    bad, fixed = d.bad.report, d.fixed.report
    assert [s.server_side for s in bad.statements] == [True]
    assert d.comparison.same_sql and not d.comparison.same_plan
    ctx = StrategyContext(canonical.engine)
    plain = get_strategy("orm_scalars")
    _, statements = _statements(canonical.engine, lambda: plain(ctx, d.bad.req))
    assert [s.sql for s in statements] == [s.sql for s in bad.statements]
    plain_shape = plan_shapes(canonical.engine, statements)[0]
    assert diff_shapes(plain_shape, bad.shapes[0]) != []
    walk = "Index Scan using content_items_auto_created_at_id_idx on content_items_auto"
    assert walk in _scans(bad.shapes[0])
    for shape in (fixed.shapes[0], plain_shape):
        assert walk not in _scans(shape)
        assert any("ix_content_tags_tag" in label for label in _scans(shape))


def _rows_below_limit(document: dict[str, Any]) -> int:
    limit = document["Plan"]
    assert limit["Node Type"] == "Limit"
    child = limit["Plans"][0]
    return round(child["Actual Rows"] * child["Actual Loops"])


@pathology
def test_deep_offset(diagnosed: Callable[[str], Diagnosis], canonical: Workspace) -> None:
    """7: the rows read below the Limit are offset + page size, growing with the page; the
    keyset page reads one page."""
    d = diagnosed("deep_offset")
    offset_stmt = d.bad.report.statements[0]
    size = d.bad.req.page_size
    analyze = "ANALYZE, TIMING OFF, FORMAT JSON"
    with canonical.engine.connect() as conn:
        for page in (1 + 1, 10, d.bad.req.page):
            offset = (page - 1) * size
            shallower = replace(offset_stmt, params={**offset_stmt.params, "offset": offset})
            assert _rows_below_limit(explain(conn, shallower, analyze)) == offset + size
        keyset = explain(conn, d.fixed.report.statements[0], analyze)
    assert _rows_below_limit(keyset) == size
    assert d.comparison.same_page


@pathology
def test_exact_count(diagnosed: Callable[[str], Diagnosis]) -> None:
    """8: the exact count is a second statement whose plan reads a whole content partition
    (explain flags the sequential scan); the capped count stops at TOTAL_CAP + 1 rows."""
    d = diagnosed("exact_count")
    bad, fixed = d.bad.report, d.fixed.report
    assert len(bad.statements) == len(fixed.statements) == 2
    assert "count(*)" in bad.statements[1].sql
    assert seq_scans(bad.shapes[1]) != []
    assert seq_scans(fixed.shapes[1]) == []
    assert "Limit" in _labels(fixed.shapes[1])
    assert bad.page.total > 100 * TOTAL_CAP
    assert fixed.page.total == TOTAL_CAP + 1
    assert [s.startswith("[2]") for s in d.comparison.plan_diff] == [True] * len(
        d.comparison.plan_diff
    )


@pathology
def test_production_story(diagnosed: Callable[[str], Diagnosis]) -> None:
    """9: different SQL (JOIN users, IN, OFFSET), a generic plan against a custom one, and a
    different page: the hand-written SQL lost the regular items."""
    d = diagnosed("production_story")
    c = d.comparison
    assert not c.same_sql and not c.same_plan and not c.same_page
    diff = "\n".join(c.sql_diff)
    for fragment in ("JOIN users", "IN (", "OFFSET"):
        assert fragment in diff, f"{fragment!r} not in the SQL diff"
    assert [m.plan for m in d.bad.report.modes] == ["generic"]
    assert "[1] generic plan -> custom plan" in c.plan_diff
    assert "items" in d.bad.report.page.column("source_type")
    assert "items" not in d.fixed.report.page.column("source_type")


@pathology
@pytest.mark.parametrize("name", ["generic_plan", "production_story"])
def test_prepared_pair_keeps_the_generic_plan_armed(
    canonical: Workspace, pg_server: PgServer, name: str
) -> None:
    """After prepare_pair (capture, plan modes, plan shapes, call count), the bad variant's pooled
    connection still runs its primed generic plan; once its prepared statements are gone,
    check_trap fails loudly instead of letting a custom plan be timed as the trap."""
    schema = trap.current_schema(canonical.engine)
    pathology = get_pathology(name)
    with contextlib.ExitStack() as stack:
        runs = {
            which: stack.enter_context(trap.open_variant(pg_server, schema, pathology, which))
            for which in VARIANTS
        }
        pair = prepare_pair(pathology, runs)
        # The observe step records which plan ran: the primed prepared statement's generic one.
        assert {"plan": "generic", "prepared": True} in pair.plan_modes["bad"]
        assert {"plan": "generic", "prepared": True} not in pair.plan_modes["fixed"]
        before = pair.generic_counts()
        assert list(before) == ["bad"] and before["bad"] > 0
        runs["bad"].run()
        pair.check_trap(before, 1)
        with runs["bad"].engine.connect() as conn:
            conn.connection.dbapi_connection.execute("DEALLOCATE ALL", prepare=False)
        lost = pair.generic_counts()
        runs["bad"].run()
        with pytest.raises(trap.TrapNotArmed, match="ran 0 generic plans"):
            pair.check_trap(lost, 1)


def test_every_pathology_has_a_diagnosis_test() -> None:
    """Each pathology in the catalogue has its test_<name> above."""
    missing = [n for n in PATHOLOGIES if f"test_{n}" not in globals()]
    assert missing == []
