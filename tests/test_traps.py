"""The trap zoo (examples/traps): explain names each trap's mechanism with its evidence, in
the verdict, and never for its fix; both return the same page. Also, loaded as a user would
(--strategies-from), explain replays SET LOCAL and set_config instead of crashing."""

from __future__ import annotations

import functools
import importlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from subprocess import CompletedProcess
from types import ModuleType

import jsonschema
import pytest
from sqlalchemy import text

from fixtures.cli import REPO, subprocess_env
from ormbench.data.models import LIST_COLUMNS, ContentItem
from ormbench.explain import Comparison, StrategyReport, analyze, compare, explain_schema
from ormbench.query.build import fetch_cursor, page_select
from ormbench.query.scenarios import build_request
from ormbench.query.spec import ContentRequest, Page
from ormbench.strategies import STRATEGIES, StrategyContext
from ormbench.workspace import Workspace

EXAMPLES = REPO / "examples"
# The list columns as ORM attributes, for the page statement of a hand-made strategy.
LIST_COLUMNS_ATTRS = [getattr(ContentItem, c) for c in LIST_COLUMNS]
# Executions per phase table: the assertions are on mechanisms (exact evidence), not timings.
REPEATS = 3


@pytest.fixture(scope="module")
def traps() -> Iterator[ModuleType]:
    """The examples/traps package, imported as a user's strategy package.

    Its strategies register themselves in the process-wide registry; they are removed again
    afterwards, so that tests later in the session see the built-in strategies only.
    """
    registered = dict(STRATEGIES)
    sys.path.insert(0, str(EXAMPLES))
    try:
        yield importlib.import_module("traps")
    finally:
        sys.path.remove(str(EXAMPLES))
        STRATEGIES.clear()
        STRATEGIES.update(registered)
        for name in [m for m in sys.modules if m == "traps" or m.startswith("traps.")]:
            del sys.modules[name]


def _trap_names() -> list[str]:
    # Read without importing: the parametrization must not depend on sys.path.
    namespace: dict[str, object] = {}
    exec((EXAMPLES / "traps" / "__init__.py").read_text(), namespace)
    return list(namespace["TRAPS"])  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def tiny_ws(seeded: Callable[[str], Workspace]) -> Workspace:
    return seeded("tiny")


@pytest.fixture(scope="module")
def explained(
    traps: ModuleType, tiny_ws: Workspace
) -> Callable[[str], tuple[ModuleType, StrategyReport, StrategyReport, Comparison]]:
    """Factory: a trap module, explain's reports on its trap and its fix, and their comparison."""

    @functools.cache
    def get(name: str) -> tuple[ModuleType, StrategyReport, StrategyReport, Comparison]:
        module = importlib.import_module(f"traps.{name}")
        with tiny_ws.engine.connect() as conn:
            req = build_request(
                module.SCENARIO,
                tiny_ws.roles,
                module.PAGE_SIZE,
                functools.partial(fetch_cursor, conn),
            )
        bad, fixed = (
            analyze(tiny_ws, getattr(module, f"{which}_{name}"), req, repeats=REPEATS)
            for which in ("trap", "fix")
        )
        return module, bad, fixed, compare(bad, fixed)

    return get


def test_the_zoo_is_big_and_documented() -> None:
    """At least 15 traps, each module with a docstring naming its fix and a known mechanism."""
    names = _trap_names()
    assert len(names) >= 15
    mechanisms = set(explain_schema()["$defs"]["finding"]["properties"]["mechanism"]["enum"])
    for name in names:
        text = (EXAMPLES / "traps" / f"{name}.py").read_text()
        assert "Fix:" in text, f"{name}: the docstring names no fix"
        found = [line for line in text.splitlines() if line.startswith("MECHANISM = ")]
        assert len(found) == 1, name
        assert found[0].split('"')[1] in mechanisms, name


@pytest.mark.parametrize("name", _trap_names())
def test_trap_mechanism_is_named(
    name: str,
    explained: Callable[[str], tuple[ModuleType, StrategyReport, StrategyReport, Comparison]],
) -> None:
    """The trap's mechanism is a finding, its evidence is in the verdict, the fix has no such
    finding, and both return the same page."""
    module, bad, fixed, comparison = explained(name)
    expected = module.MECHANISM
    found = [f for f in bad.findings if f.mechanism == expected]
    assert found, f"{name}: {expected} not named; findings {bad.findings}; {bad.verdict}"
    assert found[0].evidence in bad.verdict, bad.verdict
    assert expected not in [f.mechanism for f in fixed.findings], fixed.verdict
    assert comparison.same_page


def test_spill_names_work_mem_and_temp_blocks(explained: Callable[..., tuple]) -> None:
    """The spill is read from the replayed plan (SET LOCAL in force): external sort, temp
    blocks written, work_mem 64kB; the fix ran under the server's work_mem, without it."""
    _module, bad, fixed, comparison = explained("sort_spill")
    assert [s.kind for s in bad.statements] == ["state", "query"]
    sort = next(f for f in bad.observation.facts[1] if f.node_type == "Sort")
    assert sort.sort_method.startswith("external") and sort.temp_written > 0
    assert bad.observation.settings[1] == {"work_mem": "64kB"}
    assert fixed.observation.settings[0] != {"work_mem": "64kB"}
    assert not any(f.spilled for f in fixed.observation.facts[0])
    assert comparison.execution_diff or not comparison.same_plan
    assert "`SET LOCAL work_mem = ?` (x1)" in comparison.groups_removed


def test_n_plus_one_names_its_cause(explained: Callable[..., tuple]) -> None:
    """The lazy tags' N+1 is N statements of one normalized SQL after statement [1], whose
    rows drove them; --vs pairs the page statements and reports the group dropped."""
    _module, bad, _fixed, comparison = explained("lazy_tags")
    (finding,) = [f for f in bad.findings if f.mechanism == "n_plus_one"]
    n = len(bad.statements) - 1
    assert n == len(bad.page)
    assert finding.evidence.startswith(f"N+1: {n} x `SELECT tags.")
    assert "one per row of [1] `SELECT content_items_all.id" in finding.evidence
    assert any(g.endswith(f"(x{n})") for g in comparison.groups_removed)
    assert f"{n + 1} plans -> 2 plans" in comparison.plan_diff


def test_outside_engine_is_inconclusive(explained: Callable[..., tuple]) -> None:
    """0 statements while rows came back: INCONCLUSIVE with the reason, never a layer."""
    _module, bad, _fixed, _comparison = explained("own_engine")
    assert bad.statements == [] and len(bad.page) > 0
    assert bad.verdict.startswith("INCONCLUSIVE: 0 statements captured while")


def test_application_code_is_named_not_the_orm(explained: Callable[..., tuple]) -> None:
    """Per-row deepcopy is the strategy module's Python time (copy.py counts for its caller)."""
    module, bad, _fixed, _comparison = explained("deepcopy_rows")
    owner = f"strategy code ({module.__name__})"
    prof = bad.observation.profile
    assert max(prof.owners, key=lambda n: prof.owners[n].calls) == owner


RunCli = Callable[..., CompletedProcess[str]]


@pytest.mark.parametrize("name", ["sort_spill", "set_config_plan"])
def test_cli_replays_session_state(
    name: str, run_cli: RunCli, tiny_cli_args: list[str], traps: ModuleType
) -> None:
    """Loaded with --strategies-from, a trap sending SET LOCAL or set_config is explained
    (JSON valid against the schema) with the state statement replayed, not explained."""
    module = importlib.import_module(f"traps.{name}")
    env = subprocess_env(PYTHONPATH=f"{REPO}:{EXAMPLES}")
    result = run_cli(
        "explain",
        *tiny_cli_args,
        f"--repeats={REPEATS}",
        f"--strategies-from=traps.{name}",
        f"--scenario={module.SCENARIO}",
        f"--page-size={module.PAGE_SIZE}",
        f"--strategy=trap_{name}",
        f"--vs=fix_{name}",
        "--json",
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    doc = json.loads(result.stdout)
    jsonschema.Draft202012Validator(explain_schema()).validate(doc)
    state, query = doc["strategies"][0]["statements"]
    assert (state["kind"], state["plan"], state["replay_error"]) == ("state", None, None)
    assert query["kind"] == "query" and query["nodes"]
    found = [f["mechanism"] for f in doc["strategies"][0]["findings"]]
    # On a miss, what the replayed plan showed (sort method, space) says why.
    assert module.MECHANISM in found, (found, query["nodes"], result.stderr[-2000:])


def test_examples_dir_exists() -> None:
    """The zoo lives where the docs say: examples/traps, beside examples/my_strategy.py."""
    assert (EXAMPLES / "traps" / "__init__.py").is_file()
    assert Path(EXAMPLES / "my_strategy.py").is_file()


def _every_kind(ctx: StrategyContext, req: ContentRequest) -> Page:
    """Sends every kind of statement a replay must survive, then the page"""
    with ctx.session_factory() as session:
        for sql in (
            "SET LOCAL work_mem = '256kB'",
            "SELECT set_config('statement_timeout', '30s', false)",
            "SAVEPOINT user_savepoint",
            "RELEASE SAVEPOINT user_savepoint",
            "LOCK TABLE content_items_all IN ACCESS SHARE MODE",
            "CREATE TEMP TABLE IF NOT EXISTS page_ids (id int) ON COMMIT DROP",
            "INSERT INTO page_ids SELECT id FROM content_items_all LIMIT 5",
            "SELECT count(*) FROM page_ids",
            "DO $$ BEGIN PERFORM 1; END $$",
            "PREPARE user_stmt AS SELECT 1",
            "EXECUTE user_stmt",
            "DEALLOCATE user_stmt",
        ):
            session.execute(text(sql))
        session.commit()
        session.execute(text("SET LOCAL enable_seqscan = off"))
        rows = session.execute(page_select(req, *LIST_COLUMNS_ATTRS)).all()
    return Page(req.columns, tuple(tuple(r) for r in rows))


def _deep_offset(ctx: StrategyContext, req: ContentRequest) -> Page:
    """The page 150 pages deep, by OFFSET"""
    with ctx.session_factory() as session:
        rows = session.execute(page_select(req, *LIST_COLUMNS_ATTRS).offset(1500)).all()
    return Page(req.columns, tuple(tuple(r) for r in rows))


def test_deep_offset_is_named_whatever_sorts_below(tiny_ws: Workspace) -> None:
    """OFFSET 1500: the LIMIT pulls 1,510 rows to return 10, named as the OFFSET's discard
    whether the plan walks an index or sorts every match first (then both are named)."""
    with tiny_ws.engine.connect() as conn:
        req = build_request("no_tag", tiny_ws.roles, 10, functools.partial(fetch_cursor, conn))
    report = analyze(tiny_ws, _deep_offset, req, repeats=1)
    (finding,) = [f for f in report.findings if f.mechanism == "offset_discard"]
    assert finding.evidence == (
        "[1] the LIMIT reads 1,510 rows to return 10: every row the OFFSET skips is read, "
        "then thrown away"
    )
    assert finding.evidence in report.verdict


def test_no_statement_crashes_explain(tiny_ws: Workspace) -> None:
    """Session state, savepoints, locks, DDL, DO blocks and prepared statements are replayed
    in order (never explained, never a crash); the queries among them get their plans."""
    with tiny_ws.engine.connect() as conn:
        req = build_request("canonical", tiny_ws.roles, 10, functools.partial(fetch_cursor, conn))
    report = analyze(tiny_ws, _every_kind, req, repeats=1)
    kinds = [s.kind for s in report.statements]
    assert kinds == [
        "state",
        "state",
        "transaction",
        "transaction",
        "other",
        "other",
        "query",
        "query",
        "other",
        "other",
        "other",
        "other",
        "state",
        "query",
    ]
    assert report.observation.replay_errors == [None] * len(kinds)
    assert [s is not None for s in report.shapes] == [k == "query" for k in kinds]
    # The page ran in the second transaction, under its own SET LOCAL, not the first's.
    assert report.statements[-1].transaction == report.statements[0].transaction + 1
    assert report.observation.settings[-1] != {"work_mem": "256kB"}
    assert report.observation.settings[7] == {"work_mem": "256kB"}
    json.dumps(report.as_dict())
