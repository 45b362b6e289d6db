"""``ormbench explain`` on both variants of a pathology, each on its own trap connections.

``analyze_variant`` does what ``ormbench.explain.analyze`` does for a registered
strategy (``explain.analysis.observe``, then the phase table) on the variant's engine
instead of a plain one, so the report, its mechanisms, ``compare`` and ``render`` are
explain's. Every engine (the phase table's plain and
instrumented ones included) is opened with the variant's ``engine_kwargs``: its settings,
autocommit, search_path and priming.

One thing explain cannot do yet: show a *generic* plan. It EXPLAINs each captured statement
as an unnamed statement with its parameters, which PostgreSQL always plans as a custom plan
(one-shot plans ignore ``plan_cache_mode``), so for a statement the probe found running a
prepared statement's generic plan, explain's plan shape and server time are those of the
custom plan it did *not* run (the generic plan's server time then lands in "wire and
driver"). ``explain_generic`` replays such a statement the way it ran: ``PREPARE`` it, force
the generic plan, ``EXPLAIN EXECUTE`` it. The report carries that shape, and the diagnosis
line adds the replayed server time next to explain's verdict.

TODO(explain owner): ``explain.analyze`` could take ``engine_kwargs`` (passed on to
``measure_phases``, which already accepts them); ``plans.replay`` could replay statements the
probe found generic as ``explain_generic`` does (on PostgreSQL 16+ ``EXPLAIN (GENERIC_PLAN)``
shows the shape without a PREPARE), and ``measure_phases`` take their server time from it.
``plans._decide`` also says "generic" for an unnamed statement under
``plan_cache_mode=force_generic_plan``, which PostgreSQL plans as a custom plan. With those,
this module would be a call to ``analyze``, and ``ormbench explain`` itself could diagnose
pathologies 1 and 9.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.string import TextLoader
from sqlalchemy import Engine

from ormbench.explain import Comparison, StrategyReport, compare
from ormbench.explain.analysis import observe, strategy_owner
from ormbench.measure.capture import Statement
from ormbench.measure.phases import WARM_REPEATS, measure_phases
from ormbench.measure.plans import (
    SHAPE_OPTIONS,
    NodeFacts,
    PlanMode,
    PlanNode,
    dbapi_connection,
    normalize,
    plan_facts,
)
from ormbench.pathologies.base import VARIANTS, Pathology
from ormbench.pathologies.connection import open_variant
from ormbench.pg.server import PgServer
from ormbench.query.spec import ContentRequest

# Seconds of executions one phase table aims for; slow variants get fewer repeats.
PHASE_BUDGET_S = 10.0
# Fewest repeats of a phase table: its interquartile mean needs a middle to keep.
MIN_REPEATS = 3
# Share of the measured total from which the generic plans' replayed server time is added to
# the verdict: below it, they cannot change which layer dominates.
GENERIC_NOTE_SHARE = 0.1
# Name of the prepared statement explain_generic creates (and deallocates) for a replay.
REPLAY_STATEMENT = "ormbench_generic_replay"
# EXPLAIN options of the replay that times the generic plan (as measure_phases times others).
REPLAY_OPTIONS = "ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON"

_PYFORMAT = re.compile(r"%\((\w+)\)s")


def explain_generic(
    conn: Any, statement: Statement, options: str = SHAPE_OPTIONS
) -> dict[str, Any]:
    """EXPLAIN of ``statement`` with the generic plan a prepared statement runs.

    The statement (psycopg ``%(name)s`` placeholders, a dict of parameters) is prepared under
    its own name with ``$n`` placeholders, planned under ``plan_cache_mode =
    force_generic_plan`` inside a transaction that is rolled back, executed through ``EXPLAIN
    (options) EXECUTE`` with its parameters as literals, and deallocated.
    """
    if not isinstance(statement.params, Mapping):
        raise ValueError("explain_generic needs a statement with named parameters")
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    text = _PYFORMAT.sub(number, statement.sql).replace("%%", "%")
    raw = dbapi_connection(conn)
    with raw.transaction(force_rollback=True), psycopg.ClientCursor(raw) as cursor:
        cursor.adapters.register_loader("json", TextLoader)
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute(f"PREPARE {REPLAY_STATEMENT} AS {text}")
        try:
            args = ", ".join(["%s"] * len(names))
            cursor.execute(
                f"EXPLAIN ({options}) EXECUTE {REPLAY_STATEMENT}({args})",
                [statement.params[name] for name in names],
            )
            row = cursor.fetchone()
        finally:
            cursor.execute(f"DEALLOCATE {REPLAY_STATEMENT}")
    document = json.loads(row[0])
    return document[0] if isinstance(document, list) else document


@dataclass(frozen=True)
class GenericReplay:
    """A statement that ran a generic plan, replayed by ``explain_generic``."""

    index: int
    shape: PlanNode
    planning_ms: float
    execution_ms: float
    # What each node of the generic plan did (TIMING OFF: no node times).
    facts: tuple[NodeFacts, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "statement": self.index + 1,
            "plan": self.shape.as_dict(),
            "planning_ms": self.planning_ms,
            "execution_ms": self.execution_ms,
        }


def replay_generic(
    engine: Engine, statements: Sequence[Statement], modes: Sequence[PlanMode]
) -> list[GenericReplay]:
    """Generic-plan shape and server time of every statement that ran a generic plan."""
    replays: list[GenericReplay] = []
    with engine.connect() as conn:
        for i, (statement, mode) in enumerate(zip(statements, modes, strict=False)):
            if mode.plan == "generic" and mode.prepared and isinstance(statement.params, Mapping):
                document = explain_generic(conn, statement, REPLAY_OPTIONS)
                replays.append(
                    GenericReplay(
                        i,
                        normalize(document),
                        document["Planning Time"],
                        document["Execution Time"],
                        tuple(plan_facts(document)),
                    )
                )
    return replays


def report_name(pathology: Pathology, which: str) -> str:
    """How a variant is named in explain's output, e.g. ``generic_plan/bad``."""
    return f"{pathology.name}/{which}"


def analyze_variant(
    server: PgServer,
    schema: str,
    pathology: Pathology,
    which: str,
    *,
    loader: str = "json",
    repeats: int | None = None,
) -> VariantReport:
    """Explain's report on one variant of ``pathology`` (module docstring).

    ``repeats`` per phase table; by default as many as fit ``PHASE_BUDGET_S`` (3 to 21).
    """
    with open_variant(server, schema, pathology, which, loader=loader) as run:
        start = time.perf_counter()
        run.run()
        once = time.perf_counter() - start
        obs = observe(run.engine, run.run, strategy_owner(run.variant.strategy))
        req, strategy, variant_label = run.req, run.variant.strategy, run.variant.label
        replays = replay_generic(run.engine, obs.statements, obs.modes)
        kwargs = run.engine_kwargs
    for replay in replays:
        # The plan shown is the generic one that ran: its shape and its node facts.
        obs.shapes[replay.index] = replay.shape
        obs.facts[replay.index] = list(replay.facts)
    if repeats is None:
        repeats = max(MIN_REPEATS, min(WARM_REPEATS, int(PHASE_BUDGET_S / max(once, 1e-6))))
    warm = measure_phases(
        server,
        schema,
        strategy,
        req,
        loader=loader,
        repeats=repeats,
        statements=obs.statements,
        engine_kwargs=kwargs,
        new_backend=obs.captured.connects > 0,
    )
    report = StrategyReport(report_name(pathology, which), variant_label, obs, warm, None)
    return VariantReport(report, replays, req)


@dataclass
class VariantReport:
    """Explain's report on a variant, plus the replays of the generic plans it ran."""

    report: StrategyReport
    generic: list[GenericReplay]
    req: ContentRequest

    @property
    def verdict(self) -> str:
        """Explain's verdict, with the generic plans' own server time when it matters."""
        ms = sum(r.planning_ms + r.execution_ms for r in self.generic)
        if ms * 1e6 < GENERIC_NOTE_SHARE * self.report.warm.total_ns:
            return self.report.verdict
        return (
            f"{self.report.verdict} [explain timed the custom plan; the generic plan that ran "
            f"takes {ms:,.0f} ms on the server (EXPLAIN ANALYZE EXECUTE)]"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.report.as_dict(),
            "generic_replays": [r.as_dict() for r in self.generic],
            "verdict_with_replays": self.verdict,
        }


@dataclass
class Diagnosis:
    """Explain's reports on a pathology's two variants, and their comparison."""

    pathology: Pathology
    bad: VariantReport
    fixed: VariantReport
    comparison: Comparison

    @property
    def reports(self) -> tuple[StrategyReport, StrategyReport]:
        """Explain's reports, bad then fixed (for ``render`` and ``document``)."""
        return (self.bad.report, self.fixed.report)

    def verdict(self) -> str:
        """The diagnosis line: the bad variant's dominant layer, then bad vs fixed.

        Explain's comparison verdict names the first two plan differences; a change between
        generic and custom plan, listed after the node differences, is added when it is not
        among them.
        """
        line = f"{self.bad.verdict} · {self.comparison.verdict}"
        modes = [d for d in self.comparison.plan_diff if d.endswith(" plan") and "->" in d]
        missing = [d for d in modes if d not in line]
        return "; ".join([line, *missing])

    def as_dict(self) -> dict[str, Any]:
        """JSON: each variant as explain's ``strategy_report``, the comparison as its own."""
        return {
            "pathology": self.pathology.name,
            "number": self.pathology.number,
            "title": self.pathology.title,
            "mechanism": self.pathology.mechanism,
            "expected_diagnosis": self.pathology.diagnosis,
            "variants": {"bad": self.bad.as_dict(), "fixed": self.fixed.as_dict()},
            "comparison": self.comparison.as_dict(),
            "verdict": self.verdict(),
        }


def diagnose(
    server: PgServer,
    schema: str,
    pathology: Pathology,
    *,
    loader: str = "json",
    repeats: int | None = None,
) -> Diagnosis:
    """Explain both variants of ``pathology`` and compare them (bad -> fixed)."""
    bad, fixed = (
        analyze_variant(server, schema, pathology, w, loader=loader, repeats=repeats)
        for w in VARIANTS
    )
    return Diagnosis(pathology, bad, fixed, compare(bad.report, fixed.report))


__all__ = [
    "Diagnosis",
    "GenericReplay",
    "VariantReport",
    "analyze_variant",
    "diagnose",
    "explain_generic",
    "replay_generic",
    "report_name",
]
