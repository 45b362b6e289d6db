"""What explain knows about one strategy on one request, gathered on executions of its own.

``observe`` is the one step that gathers it, for explain and for the pathology diagnoses
alike: warm-up, capture (statements, transactions, pool events, round trips), plan-mode probe,
profile (calls, Python time by owner), tracemalloc peak, then a replay of exactly what ran
(``plans.replay``) through ``EXPLAIN (ANALYZE, BUFFERS)``, whose plans are the ones shown and
compared, with their per-node facts. Every measurement is its own execution, and no timed
execution carries any of them.
"""

from __future__ import annotations

import inspect
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter_ns
from typing import Any

import psycopg
from sqlalchemy import Engine

from ormbench.explain.mechanisms import Finding, find, verdict
from ormbench.measure.capture import Capture, Statement, capture
from ormbench.measure.counters import STRATEGY_OWNER, Profile, peak_memory, profile
from ormbench.measure.observe import warm
from ormbench.measure.phases import PhaseTable, Rendering, endpoint_rendering, measure_phases
from ormbench.measure.plans import (
    FACT_SETTINGS,
    FACTS_OPTIONS,
    NodeFacts,
    PlanMode,
    PlanNode,
    dbapi_connection,
    normalize,
    plan_facts,
    probe_plan_modes,
    replay,
    seq_scans,
)
from ormbench.query.spec import ContentRequest, Page
from ormbench.response.decode import decode_body
from ormbench.response.paths import PATHS_BY_NAME, ResponsePath, get_path
from ormbench.response.render import STEPS
from ormbench.strategies import Strategy, StrategyContext, get_strategy, label
from ormbench.workspace import Workspace

# Round trips timed to price one (``SELECT 1`` on the page's own engine); the median counts.
RTT_SAMPLES = 21


def strategy_owner(fn: Callable[..., Any]) -> dict[str, str]:
    """The profile owner naming ``fn``'s own module: ``{source file: "strategy code (mod)"}``."""
    try:
        path = inspect.getsourcefile(fn)
    except TypeError:
        return {}
    return {path: f"{STRATEGY_OWNER} ({fn.__module__})"} if path else {}


def round_trip_ns(engine: Engine) -> int:
    """The median time of one round trip (``SELECT 1``) on a connection of ``engine``."""
    times: list[int] = []
    with engine.connect() as conn, psycopg.Cursor(dbapi_connection(conn)) as cursor:
        for _ in range(RTT_SAMPLES):
            start = perf_counter_ns()
            cursor.execute("SELECT 1", prepare=False)
            cursor.fetchone()
            times.append(perf_counter_ns() - start)
    return round(statistics.median(times))


@dataclass
class Observation:
    """One strategy's page, observed: what it sent, which plans ran and what they did."""

    page: Page
    captured: Capture
    modes: list[PlanMode]
    profile: Profile
    peak_bytes: int
    shapes: list[PlanNode | None]
    facts: list[list[NodeFacts]]
    settings: list[dict[str, str] | None]
    replay_errors: list[str | None]
    rtt_ns: int
    # Per statement: JIT functions compiled and JIT time (ms) of the replayed execution.
    jit: list[tuple[int, float]] = field(default_factory=list)

    @property
    def statements(self) -> list[Statement]:
        return self.captured.statements


def observe(
    engine: Engine,
    run: Callable[[], Any],
    own_files: dict[str, str] | None = None,
    as_page: Callable[[Any], Page] | None = None,
) -> Observation:
    """Observe ``run`` (one page on ``engine``) once warm, in every way explain reports.

    ``run`` returns the page, or something ``as_page`` turns into it (a response body).
    """
    warm(run)
    with capture(engine) as captured:
        result = run()
    page = as_page(result) if as_page else result
    modes = probe_plan_modes(engine, run)
    prof = profile(run, own_files)
    peak = peak_memory(run)
    statements = captured.statements
    with engine.connect() as conn:
        replayed = replay(conn, statements, FACTS_OPTIONS, settings=FACT_SETTINGS)
    rtt = round_trip_ns(engine)
    return Observation(
        page=page,
        captured=captured,
        modes=modes,
        profile=prof,
        peak_bytes=peak,
        shapes=[normalize(r.document) if r.document else None for r in replayed],
        facts=[plan_facts(r.document) if r.document else [] for r in replayed],
        settings=[dict(r.settings) if r.settings else None for r in replayed],
        replay_errors=[r.error for r in replayed],
        rtt_ns=rtt,
        jit=[_jit(r.document) for r in replayed],
    )


def _jit(document: dict[str, Any] | None) -> tuple[int, float]:
    jit = (document or {}).get("JIT") or {}
    return int(jit.get("Functions", 0)), float(jit.get("Timing", {}).get("Total", 0.0))


@dataclass
class StrategyReport:
    """Everything explain knows about one strategy on one request."""

    strategy: str
    label: str
    observation: Observation
    warm: PhaseTable
    cold: PhaseTable | None
    # The response rendering (pydantic, orjson, ...) when ``strategy`` is a response path.
    response: str | None = None

    @property
    def page(self) -> Page:
        return self.observation.page

    @property
    def statements(self) -> list[Statement]:
        return self.observation.statements

    @property
    def shapes(self) -> list[PlanNode | None]:
        return self.observation.shapes

    @property
    def modes(self) -> list[PlanMode]:
        return self.observation.modes

    @property
    def calls(self) -> int:
        return self.observation.profile.calls

    @property
    def peak_bytes(self) -> int:
        return self.observation.peak_bytes

    @property
    def findings(self) -> list[Finding]:
        return find(self)

    @property
    def verdict(self) -> str:
        return verdict(self)

    def mode_of(self, i: int) -> PlanMode:
        """The plan mode of statement ``i``; the probe records only the statements it saw."""
        return self.modes[i] if i < len(self.modes) else PlanMode("unknown", False, "")

    def as_dict(self) -> dict[str, Any]:
        obs = self.observation
        statements = []
        for i, statement in enumerate(self.statements):
            shape = self.shapes[i]
            statements.append(
                {
                    **statement.as_dict(),
                    "normalized": statement.normalized,
                    "plan": shape.as_dict() if shape else None,
                    "plan_mode": self.mode_of(i).as_dict(),
                    "seq_scans": seq_scans(shape) if shape else [],
                    "nodes": [f.as_dict() for f in obs.facts[i]],
                    "settings": obs.settings[i],
                    "replay_error": obs.replay_errors[i],
                    "jit_functions": obs.jit[i][0] if i < len(obs.jit) else 0,
                }
            )
        captured = obs.captured
        return {
            "strategy": self.strategy,
            "label": self.label,
            "response": self.response,
            "statements": statements,
            "counters": {
                "statements": len(self.statements),
                "rows_fetched": sum(s.rows_fetched for s in self.statements),
                "rows_returned": len(self.page),
                "python_calls": self.calls,
                "peak_bytes": self.peak_bytes,
                "round_trips": captured.round_trips,
                "round_trip_ns": obs.rtt_ns,
                "transactions": captured.transaction_count,
                "commits": captured.commits,
                "new_connections": captured.connects,
                "checkouts": captured.checkouts,
            },
            "python_owners": {
                name: {
                    "share": round(obs.profile.share(name), 4),
                    "calls": share.calls,
                }
                for name, share in obs.profile.owners.items()
            },
            "phases": {
                "warm": self.warm.as_dict(),
                "cold": self.cold.as_dict() if self.cold else None,
            },
            "findings": [f.as_dict() for f in self.findings],
            "verdict": self.verdict,
        }


@dataclass(frozen=True)
class Subject:
    """What explain runs: a strategy (its page, as the lean endpoint's body), or a response
    path (``<strategy>-<response>``: its loader, then its validation and serialization)."""

    name: str
    label: str
    load: Callable[[StrategyContext, ContentRequest], Any]
    response: ResponsePath | None = None

    def rendering(self, req: ContentRequest) -> Rendering:
        if self.response is None:
            return endpoint_rendering(req)
        validate, serialize = STEPS[self.response.response]
        return Rendering(serialize, validate)


def subject(strategy: Strategy | str) -> Subject:
    """The strategy or response path called ``strategy`` (or the strategy function itself);
    a ConfigError names both kinds of choices otherwise."""
    if not isinstance(strategy, str):
        return Subject(strategy.__name__, label(strategy), strategy)
    if strategy in PATHS_BY_NAME:
        path = PATHS_BY_NAME[strategy]
        return Subject(path.name, path.label, path.load, path)
    if "-" in strategy:  # strategy names never hold one (ormbench.strategies._NAME)
        get_path(strategy)  # raises, listing the paths
    fn = get_strategy(strategy)
    return Subject(strategy, label(fn), fn)


def analyze(
    ws: Workspace,
    strategy: Strategy | str,
    req: ContentRequest,
    *,
    loader: str = "json",
    cold: bool = False,
    repeats: int | None = None,
) -> StrategyReport:
    """Observe and attribute one strategy (a name or a function) or response path (a name,
    e.g. ``orm_scalars-pydantic``) on ``req``.

    A response path's page, for the counters and the comparison, is the one its body
    carries; its phase table splits the rendering into Pydantic validation and serialization.
    """
    what = subject(strategy)
    rendering = what.rendering(req)
    engine = ws.engine_for(loader)
    try:
        ctx = StrategyContext(engine)
        if what.response is None:
            obs = observe(engine, lambda: what.load(ctx, req), strategy_owner(what.load))
        else:
            obs = observe(
                engine,
                lambda: rendering.body(what.load(ctx, req)),
                strategy_owner(what.load),
                as_page=lambda body: decode_body(body, req),
            )
    finally:
        engine.dispose()
    common = {
        "loader": loader,
        "repeats": repeats,
        "statements": obs.statements,
        "new_backend": obs.captured.connects > 0,
        "rendering": rendering,
        "name": what.name,
    }
    warm = measure_phases(ws.server, ws.schema, what.load, req, **common)
    cold_table = (
        measure_phases(ws.server, ws.schema, what.load, req, cold=True, **common) if cold else None
    )
    response = what.response.response if what.response else None
    return StrategyReport(what.name, what.label, obs, warm, cold_table, response)


__all__ = [
    "Observation",
    "StrategyReport",
    "Subject",
    "analyze",
    "observe",
    "round_trip_ns",
    "strategy_owner",
    "subject",
]
