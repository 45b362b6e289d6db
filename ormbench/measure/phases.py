"""Where the time of one page goes: phase attribution of one strategy execution.

Each phase is measured, not guessed, on an *instrumented* engine of its own, in executions
separate from the plain ones whose time is the measured total:

============================  ==============================================================
phase                         how it is measured (every clock is ``time.perf_counter_ns``)
============================  ==============================================================
``build``                     from the call to the first statement reaching SQLAlchemy's
                              ``Connection.execute`` (event ``before_execute``), or psycopg's
                              ``cursor.execute`` for raw DBAPI strategies; pool time excluded.
                              Includes opening the Session and the ORM's pre-execution step.
``compile``                   per statement, ``before_execute`` to ``cursor.execute``: cache
                              key, compiled-cache lookup (or compilation on a miss: the cache
                              status of each statement comes from ``context.cache_hit``),
                              parameter processing, execution context.
``connection``                pool checkout: connecting, when cold or when the page opens a
                              new connection (a new server backend), with SQLAlchemy's first-
                              connect initialization.
``server_planning``           ``Planning Time`` and ``Execution Time`` of
``server_execution``          ``EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON)`` of exactly
                              the captured SQL with its captured parameters, run on its own
                              execution and connection (warm: a warm one; cold: a new one),
                              never inside a measured one. TIMING OFF: per-node clocks would inflate
                              the figure; one extra EXPLAIN with timing names the hottest node.
``wire``                      time inside psycopg cursor calls (execute, fetch*, iteration,
                              close) and the connection's release (the ROLLBACK or pool reset
                              round trip: events ``rollback``/``reset`` to ``checkin``) minus
                              server time minus JSON decoding: round trips
                              (including psycopg's implicit BEGIN), protocol, libpq, psycopg's
                              row conversion, and the server's output conversion (EXPLAIN
                              ANALYZE runs no output functions before PostgreSQL 17). When a
                              parallel plan's EXPLAIN ANALYZE outlasts the cursor calls, the
                              server execution is capped at the cursor time (a ``note``).
``json_decode``               the connection's JSON loader wrapped in ``CountingLoader``.
``hydration``                 the rest of the strategy's own time: ORM result setup, identity
                              map, object construction, attribute reads, lazy-load statement
                              building, or a raw strategy's tuple projection. A residual by
                              design: the ORM has no hooks around its row loop. Any time no
                              other hook sees lands here too; overlapping windows would make
                              it negative, which is reported as a warning.
``validate``                  a response path's Pydantic validation of what the handler
                              returned (the response model, ``from_attributes``); 0 for a
                              strategy, whose page the lean endpoint serializes unvalidated.
``serialize``                 the JSON body the endpoint returns (``endpoint_body``), or the
                              response path's serialization (Pydantic's ``dump_json``,
                              orjson, ...).
``remainder``                 measured total minus every phase above, signed.
============================  ==============================================================

The *measured total* is the wall time of plain executions (the strategy plus the validation
and serialization, no instrumentation), interleaved with the instrumented ones so drift hits
both.
One execution is noise, so every figure is taken over ``repeats`` executions, around their
median: the mean of the middle half of the executions ranked by total (an interquartile
mean), for the plain totals and for the instrumented executions alike. Per-phase medians
would be the obvious choice, but medians do not add up (each phase's median comes from
another execution): on a quiet machine the sum of the phases' medians was 99% of the median
total, on a loaded one 70%. The middle half is about as robust to preemptions as the median,
and the phases of the same executions sum exactly to their total. Server figures, one
constant per statement, are plain medians of their EXPLAIN runs. The number of repeats fills
a time budget between a floor and a ceiling (constants below), unless given; when the phases
then do not add up, more executions are pooled, up to a ceiling, since on a loaded machine
the usual cause is noise, which more data settles, while a real gap does not shrink. The heap
is frozen (``gc.freeze``) while measuring, so the ``gc.collect()`` before each execution is
cheap; collections an execution's own garbage triggers still happen inside it.

Within an instrumented execution the phases add up by construction (hydration is the
residual, the server is split out of the cursor time). The check is against the *plain*
executions: the remainder is what the instrumented executions cost more or less than the
plain ones, that is instrumentation overhead plus noise. The overhead measured 3-5% (the
counting JSON loader's clock reads, per value, land in wire and driver; the hooks add about
200 Python calls per execution); an A/A run, the instrumented engine swapped for a plain
one, drifted up to 20% on a loaded 2-core machine, which is why more executions are pooled
when the check fails. When the remainder exceeds ``TOLERANCE`` of the total the table says
so (``adds_up`` False and a warning, printed to stderr).

*Warm* executions follow warm-up executions on the same engine. *Cold* is the first execution
on a fresh engine: a new connection (a new server backend), an empty compiled cache; the server
time then comes from an EXPLAIN on a new connection too. Process-level first-call costs
(imports, mapper configuration) are paid in warm-up and are not part of either.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import statistics
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from time import perf_counter_ns
from typing import Any, TypeVar

import psycopg
from sqlalchemy import Engine, event
from sqlalchemy.engine.interfaces import CacheStats
from sqlalchemy.pool import QueuePool

from ormbench.db import make_engine
from ormbench.jsonable import jsonable
from ormbench.jsonload import CountingLoader, JsonLoads, get_loader
from ormbench.measure.capture import Statement, capture
from ormbench.measure.observe import WARMUP
from ormbench.measure.plans import (
    GATHER_NODES,
    PlanNode,
    hottest,
    normalize,
    plan_facts,
    replay,
    seq_scans,
)
from ormbench.pg.server import PgServer
from ormbench.query.spec import ContentRequest, Page
from ormbench.strategies import Strategy, StrategyContext, get_strategy

# Phase keys, in the order of a page's life; the stable keys of explain's JSON.
PHASES: tuple[str, ...] = (
    "build",
    "compile",
    "connection",
    "server_planning",
    "server_execution",
    "wire",
    "json_decode",
    "hydration",
    "validate",
    "serialize",
    "remainder",
)
PHASE_LABELS: dict[str, str] = {
    "build": "build statement",
    "compile": "SQL compilation",
    "connection": "pool and connection",
    "server_planning": "server planning",
    "server_execution": "server execution",
    "wire": "wire and driver",
    "json_decode": "JSON decoding",
    "hydration": "row and ORM construction",
    "validate": "Pydantic validation",
    "serialize": "serialize JSON body",
    "remainder": "remainder",
}
# |remainder| / measured total above which the phases are said not to add up (the 10%).
TOLERANCE = 0.10
# Repeats per warm table: at least 21 (the middle half, 11, survives a loaded machine's
# preemptions), more while one repeat fits the budget: on a loaded 2-core machine the
# estimate's spread fell from 11% at 21 repeats to 4% at 41 (page of 10).
WARM_REPEATS = 21
MAX_WARM_REPEATS = 61
# Seconds of measuring one warm table aims for (a page of 10 reaches the ceiling).
WARM_BUDGET_S = 2.0
# Cold repeats each open three connections (server forks): fewer, each costs milliseconds.
COLD_REPEATS = 9
MAX_COLD_REPEATS = 31
COLD_BUDGET_S = 2.0
# When the phases do not add up, more executions are pooled (in batches of the first count)
# up to this many repeats or this many more seconds, whichever comes first.
MAX_EXTENDED_REPEATS = 241
EXTEND_BUDGET_S = 10.0
# Statements per execution above which each is EXPLAINed once per table, not once per repeat
# (an N+1 page of 1000 rows would otherwise EXPLAIN thousands of statements per repeat).
SERVER_REPEAT_LIMIT = 20
# EXPLAIN options of the server-time runs, and of the one run that names the hottest node.
SERVER_OPTIONS = "ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON"
HOTSPOT_OPTIONS = "ANALYZE, FORMAT JSON"

# How every phase and total is summarized over the repeats (module docstring says why).
STATISTIC = "interquartile mean"

T = TypeVar("T")

_CACHE_NAMES: dict[CacheStats, str] = {
    CacheStats.CACHE_HIT: "hit",
    CacheStats.CACHE_MISS: "miss",
    CacheStats.CACHING_DISABLED: "disabled",
    CacheStats.NO_CACHE_KEY: "no cache key",
    CacheStats.NO_DIALECT_SUPPORT: "unsupported",
}
# Cache status of a statement sent on a raw DBAPI cursor: SQLAlchemy compiled nothing.
RAW_DBAPI = "raw DBAPI"


def endpoint_body(page: Page, req: ContentRequest) -> bytes:
    """The response body the list endpoint returns for ``page``.

    A lean endpoint: one dict per row (timestamps in ISO 8601, UUIDs as text, JSONB values
    as loaded), rendered as Starlette's ``JSONResponse`` does (``json.dumps`` with
    ``ensure_ascii=False`` and compact separators, UTF-8); values JSON has no type for are
    converted by ``jsonable`` as the encoder meets them.
    """
    columns = page.columns
    items = [dict(zip(columns, row, strict=True)) for row in page.rows]
    body = {"items": items, "page": req.page, "page_size": req.page_size, "total": page.total}
    text = json.dumps(
        body, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=jsonable
    )
    return text.encode("utf-8")


@dataclass(frozen=True)
class Rendering:
    """How what a handler returned becomes the response body: an optional validation step
    (a Pydantic response model's), then serialization to bytes."""

    serialize: Callable[[Any], bytes]
    validate: Callable[[Any], Any] | None = None

    def body(self, content: Any) -> bytes:
        return self.serialize(self.validate(content) if self.validate else content)


def endpoint_rendering(req: ContentRequest) -> Rendering:
    """A strategy's page as the lean endpoint's body (``endpoint_body``): no validation."""
    return Rendering(lambda page: endpoint_body(page, req))


@dataclass
class _Clock:
    """Nanosecond accumulators of one instrumented execution, fed by hooks."""

    first: int | None = None  # first statement boundary (before_execute or cursor.execute)
    connection_at_first: int = 0
    pending: int | None = None  # before_execute time of the statement being compiled
    pending_cache: str | None = None
    release: int | None = None  # start of the connection release in progress
    compile_ns: int = 0
    connection_ns: int = 0
    cursor_ns: int = 0
    cache: list[str] = field(default_factory=list)
    orm: bool = False

    def reset(self) -> None:
        self.first = self.pending = self.pending_cache = self.release = None
        self.connection_at_first = self.compile_ns = self.connection_ns = self.cursor_ns = 0
        self.cache = []
        self.orm = False

    def boundary(self, now: int) -> None:
        if self.first is None:
            self.first = now
            self.connection_at_first = self.connection_ns

    def cursor_execute(self, now: int) -> None:
        self.boundary(now)
        if self.pending is not None:
            self.compile_ns += now - self.pending
            self.pending = None
        self.cache.append(self.pending_cache or RAW_DBAPI)
        self.pending_cache = None


class _TimedPool(QueuePool):
    """QueuePool timing checkout (``connect``); subclassed per clock with ``_clock`` set."""

    _clock: _Clock

    def connect(self) -> Any:
        start = perf_counter_ns()
        try:
            return super().connect()
        finally:
            self._clock.connection_ns += perf_counter_ns() - start


class _Timed:
    """Mixin for psycopg cursors: time spent inside the driver's calls goes to the clock."""

    _clock: _Clock

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        start = perf_counter_ns()
        self._clock.cursor_execute(start)
        try:
            return super().execute(query, params, **kwargs)  # type: ignore[misc]
        finally:
            self._clock.cursor_ns += perf_counter_ns() - start

    def fetchone(self) -> Any:
        start = perf_counter_ns()
        try:
            return super().fetchone()  # type: ignore[misc]
        finally:
            self._clock.cursor_ns += perf_counter_ns() - start

    def fetchmany(self, size: int = 0) -> Any:
        start = perf_counter_ns()
        try:
            return super().fetchmany(size)  # type: ignore[misc]
        finally:
            self._clock.cursor_ns += perf_counter_ns() - start

    def fetchall(self) -> Any:
        start = perf_counter_ns()
        try:
            return super().fetchall()  # type: ignore[misc]
        finally:
            self._clock.cursor_ns += perf_counter_ns() - start

    def __iter__(self) -> Any:
        rows = super().__iter__()  # type: ignore[misc]
        while True:
            start = perf_counter_ns()
            try:
                row = next(rows)
            except StopIteration:
                return
            finally:
                self._clock.cursor_ns += perf_counter_ns() - start
            yield row

    def close(self) -> None:
        # A server-side cursor's close is a round trip (CLOSE); a client one's is local.
        start = perf_counter_ns()
        try:
            super().close()  # type: ignore[misc]
        finally:
            self._clock.cursor_ns += perf_counter_ns() - start


class _TimedCursor(_Timed, psycopg.Cursor):
    pass


class _TimedServerCursor(_Timed, psycopg.ServerCursor):
    pass


def _instrument(engine: Engine, clock: _Clock) -> None:
    """Hook ``engine`` (already created with a ``_TimedPool`` subclass) to ``clock``."""
    cursor_cls = type("TimedCursor", (_TimedCursor,), {"_clock": clock})
    server_cursor_cls = type("TimedServerCursor", (_TimedServerCursor,), {"_clock": clock})

    def checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        dbapi_connection.cursor_factory = cursor_cls
        dbapi_connection.server_cursor_factory = server_cursor_cls

    def before_execute(conn: Any, clause: Any, multiparams: Any, params: Any, opts: Any) -> None:
        now = perf_counter_ns()
        clock.boundary(now)
        clock.pending = now

    def before_cursor_execute(
        conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool
    ) -> None:
        clock.pending_cache = _CACHE_NAMES.get(context.cache_hit, str(context.cache_hit))
        state = getattr(context.compiled, "compile_state", None)
        if state is not None and type(state).__module__.startswith("sqlalchemy.orm"):
            clock.orm = True

    def release_starts(*args: Any) -> None:
        if clock.release is None:
            clock.release = perf_counter_ns()

    def release_ends(dbapi_connection: Any, record: Any) -> None:
        if clock.release is not None:
            # The ROLLBACK (or reset) at release is a round trip: wire and driver, not pool.
            clock.cursor_ns += perf_counter_ns() - clock.release
            clock.release = None

    event.listen(engine, "checkout", checkout)
    event.listen(engine, "before_execute", before_execute)
    event.listen(engine, "before_cursor_execute", before_cursor_execute)
    event.listen(engine, "rollback", release_starts)
    event.listen(engine, "reset", release_starts)
    event.listen(engine, "checkin", release_ends)


@dataclass(frozen=True)
class ServerTime:
    """Server figures of one statement: medians of EXPLAIN ANALYZE runs."""

    planning_ns: int
    execution_ns: int
    shared_hit_blocks: int
    shared_read_blocks: int
    hotspot: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "planning_ns": self.planning_ns,
            "execution_ns": self.execution_ns,
            "shared_hit_blocks": self.shared_hit_blocks,
            "shared_read_blocks": self.shared_read_blocks,
            "hotspot": self.hotspot,
        }


def _hotspot(document: Mapping[str, Any] | None) -> str | None:
    """Label of the node with the largest exclusive time in an EXPLAIN ANALYZE (timing on);
    nodes below a Gather count per process (``plans.plan_facts``)."""
    node = hottest(plan_facts(document)) if document else None
    return node.label if node else None


@dataclass
class _ServerRuns:
    planning: list[list[int]]
    execution: list[list[int]]
    hit: list[int]
    read: list[int]
    hotspots: list[str | None]

    @classmethod
    def empty(cls, n: int) -> _ServerRuns:
        return cls([[] for _ in range(n)], [[] for _ in range(n)], [0] * n, [0] * n, [None] * n)

    def run(self, conn: Any, statements: Sequence[Statement]) -> None:
        # Replayed in order, under the session state the page ran with; a statement that is
        # not a query (SET, DDL, ...) has no plan and costs its round trip in wire and driver.
        for i, replayed in enumerate(replay(conn, statements, SERVER_OPTIONS)):
            doc = replayed.document
            if doc is None:
                self.planning[i].append(0)
                self.execution[i].append(0)
                continue
            self.planning[i].append(round(doc["Planning Time"] * 1e6))
            self.execution[i].append(round(doc["Execution Time"] * 1e6))
            self.hit[i] = doc["Plan"].get("Shared Hit Blocks", 0)
            self.read[i] = doc["Plan"].get("Shared Read Blocks", 0)

    def result(self) -> tuple[ServerTime, ...]:
        return tuple(
            ServerTime(
                round(statistics.median(p)),
                round(statistics.median(e)),
                self.hit[i],
                self.read[i],
                self.hotspots[i],
            )
            for i, (p, e) in enumerate(zip(self.planning, self.execution, strict=True))
        )


@dataclass(frozen=True)
class PhaseTable:
    """Phases (ns, interquartile means) of one strategy, warm or cold, checked against the
    measured total."""

    mode: str
    strategy: str
    repeats: int
    phases: dict[str, int]
    total_ns: int
    instrumented_total_ns: int
    cache: tuple[str, ...]
    server: tuple[ServerTime, ...]
    orm: bool
    flags: tuple[str, ...] = ()
    tolerance: float = TOLERANCE
    warnings: tuple[str, ...] = ()
    # Adjustments made to the figures, and why (not doubts: those are warnings).
    notes: tuple[str, ...] = ()

    @property
    def deviation(self) -> float:
        """Remainder as a fraction of the measured total (signed)."""
        return self.phases["remainder"] / self.total_ns if self.total_ns else 0.0

    @property
    def adds_up(self) -> bool:
        """True when the measured phases explain the total within ``tolerance``."""
        return abs(self.deviation) <= self.tolerance

    def share(self, phase: str) -> float:
        """A phase's fraction of the measured total."""
        return self.phases[phase] / self.total_ns if self.total_ns else 0.0

    def verdict(self) -> str:
        """The dominant layer in one line, e.g. ``82% server: Seq Scan on content_items_auto``.

        Server planning and execution count as one layer; the server's detail is planning
        when it outweighs execution, else the hottest node of the costliest statement (and a
        flagged sequential scan on a content partition, if another node is hotter), else the
        flagged scan.
        """
        layers: dict[str, int] = {
            name: ns
            for name, ns in self.phases.items()
            if name not in ("server_planning", "server_execution")
        }
        layers["server"] = self.phases["server_planning"] + self.phases["server_execution"]
        name = max(layers, key=lambda k: layers[k])
        pct = f"{100 * layers[name] / self.total_ns:.0f}%" if self.total_ns else "?%"
        if name == "server":
            return f"{pct} server: {self._server_detail()}"
        if name == "hydration":
            return f"{pct} {'ORM hydration' if self.orm else 'row construction'}"
        if name == "compile":
            misses = sum(1 for c in self.cache if c == "miss")
            return f"{pct} SQL compilation" + (" (compiled-cache miss)" if misses else "")
        if name == "remainder":
            return f"{pct} unattributed (phases do not add up)"
        return f"{pct} {PHASE_LABELS[name]}"

    def _server_detail(self) -> str:
        # The measured hot spot first: a flagged scan is named too, never instead of it.
        if self.phases["server_planning"] > self.phases["server_execution"]:
            return "planning"
        costliest = max(self.server, key=lambda s: s.planning_ns + s.execution_ns, default=None)
        hot = costliest.hotspot if costliest else None
        if hot and self.flags and hot not in self.flags:
            return f"{hot} (hottest node); {self.flags[0]}"
        if hot:
            return hot
        return self.flags[0] if self.flags else "execution"

    def as_dict(self) -> dict[str, Any]:
        """JSON form (the ``phase_table`` of docs/explain-json.md)."""
        return {
            "mode": self.mode,
            "repeats": self.repeats,
            "statistic": STATISTIC,
            "unit": "ns",
            "total_ns": self.total_ns,
            "instrumented_total_ns": self.instrumented_total_ns,
            "phases": dict(self.phases),
            "cache": list(self.cache),
            "server": [s.as_dict() for s in self.server],
            "orm": self.orm,
            "adds_up": self.adds_up,
            "deviation": self.deviation,
            "tolerance": self.tolerance,
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "verdict": self.verdict(),
        }


@dataclass
class _Sample:
    strategy_ns: int
    serialize_ns: int
    build: int
    compile: int
    connection: int
    cursor: int
    json: int
    cache: tuple[str, ...]
    orm: bool
    validate_ns: int = 0  # a response path's Pydantic validation (none for a strategy)

    @property
    def hydration(self) -> int:
        return self.strategy_ns - self.build - self.compile - self.connection - self.cursor


class _Instrumented:
    """An engine with every hook of the attribution, and its counting JSON loader."""

    def __init__(
        self,
        server: PgServer,
        schema: str,
        loads: JsonLoads,
        engine_kwargs: Mapping[str, Any],
    ) -> None:
        self.clock = _Clock()
        self.loader = CountingLoader(loads)
        pool = type("TimedPool", (_TimedPool,), {"_clock": self.clock})
        self.engine = make_engine(
            server, schema, json_deserializer=self.loader, poolclass=pool, **engine_kwargs
        )
        _instrument(self.engine, self.clock)
        self.ctx = StrategyContext(self.engine)

    def sample(self, fn: Strategy, req: ContentRequest, rendering: Rendering) -> _Sample:
        self.clock.reset()
        self.loader.reset()
        gc.collect()
        start = perf_counter_ns()
        content = fn(self.ctx, req)
        end = perf_counter_ns()
        if rendering.validate is None:
            value, validated = content, end  # no validation step: exactly 0 ns
        else:
            value = rendering.validate(content)
            validated = perf_counter_ns()
        rendering.serialize(value)
        serialized = perf_counter_ns()
        clock = self.clock
        first = clock.first if clock.first is not None else end
        return _Sample(
            strategy_ns=end - start,
            validate_ns=validated - end,
            serialize_ns=serialized - validated,
            build=first - start - clock.connection_at_first,
            compile=clock.compile_ns,
            connection=clock.connection_ns,
            cursor=clock.cursor_ns,
            json=self.loader.ns,
            cache=tuple(clock.cache),
            orm=clock.orm,
        )


def _plain_total(
    fn: Strategy, ctx: StrategyContext, req: ContentRequest, rendering: Rendering
) -> int:
    gc.collect()
    start = perf_counter_ns()
    rendering.body(fn(ctx, req))
    return perf_counter_ns() - start


def measure_phases(
    server: PgServer,
    schema: str,
    strategy: Strategy | str,
    req: ContentRequest,
    *,
    loader: str = "json",
    cold: bool = False,
    repeats: int | None = None,
    statements: Sequence[Statement] | None = None,
    engine_kwargs: Mapping[str, Any] | None = None,
    tolerance: float = TOLERANCE,
    warn: bool = True,
    new_backend: bool = False,
    rendering: Rendering | None = None,
    name: str | None = None,
) -> PhaseTable:
    """Attribute one execution of ``strategy`` on ``req`` to phases (module docstring).

    ``statements`` are the captured statements whose server time is measured; captured here
    (on an execution of their own) when not given. ``engine_kwargs`` go to ``create_engine``
    for both the plain and the instrumented engines. With ``warn``, a table whose phases do
    not add up within ``tolerance`` (a fraction of the total) prints a warning to stderr.
    With ``new_backend`` (the strategy opens a new connection on every execution, as its
    capture showed) the server time of warm executions too comes from a new connection, whose
    backend starts with cold catalog caches as the strategy's does; otherwise that cost would
    land in wire and driver. ``rendering`` turns what ``strategy`` returns into the body
    (default: a strategy's page as ``endpoint_body``); a response path passes its loader as
    ``strategy``, its validation and serialization as ``rendering``, and its ``name``.
    """
    fn = get_strategy(strategy) if isinstance(strategy, str) else strategy
    name = name or (strategy if isinstance(strategy, str) else fn.__name__)
    rendering = rendering or endpoint_rendering(req)
    loads = get_loader(loader)
    kwargs = dict(engine_kwargs or {})

    def plain_engine() -> Engine:
        return make_engine(server, schema, json_deserializer=loads, **kwargs)

    # Every execution starts after gc.collect(), so a collection inside it is its own
    # garbage's; freezing the heap first makes that collect cheap (a full one took 100 ms).
    was_frozen = gc.get_freeze_count() > 0
    gc.collect()
    gc.freeze()
    plain = plain_engine()
    explainer = plain_engine()
    inst: _Instrumented | None = None
    try:
        plain_ctx = StrategyContext(plain)
        for _ in range(WARMUP):
            fn(plain_ctx, req)
        if statements is None:
            with capture(plain) as captured:
                fn(plain_ctx, req)
            statements = captured.statements
        statements = list(statements)
        server_runs = _ServerRuns.empty(len(statements))
        server_every = len(statements) <= SERVER_REPEAT_LIMIT
        totals: list[int] = []
        samples: list[_Sample] = []

        def explain_on_new_connection() -> None:
            # A new connection: a new backend, with cold catalog caches, as the strategy's.
            fresh_explainer = plain_engine()
            try:
                with fresh_explainer.connect() as conn:
                    server_runs.run(conn, statements)
            finally:
                fresh_explainer.dispose()

        def warm_repeat(i: int) -> None:
            assert inst is not None
            # Alternate which goes first, so neither always follows the other.
            if i % 2:
                samples.append(inst.sample(fn, req, rendering))
                totals.append(_plain_total(fn, plain_ctx, req, rendering))
            else:
                totals.append(_plain_total(fn, plain_ctx, req, rendering))
                samples.append(inst.sample(fn, req, rendering))
            if (server_every or i == 0) and new_backend:
                explain_on_new_connection()
            elif server_every or i == 0:
                # On a connection of its own: plain and instrumented backends stay symmetric.
                with explainer.connect() as conn:
                    server_runs.run(conn, statements)

        def cold_repeat(i: int) -> None:
            fresh = plain_engine()
            try:
                totals.append(_plain_total(fn, StrategyContext(fresh), req, rendering))
            finally:
                fresh.dispose()
            cold_inst = _Instrumented(server, schema, loads, kwargs)
            try:
                samples.append(cold_inst.sample(fn, req, rendering))
            finally:
                cold_inst.engine.dispose()
            if server_every or i == 0:
                explain_on_new_connection()

        if not cold:
            inst = _Instrumented(server, schema, loads, kwargs)
            for _ in range(WARMUP):
                fn(inst.ctx, req)
            # Connect the explainer and warm its caches: the first repeat sizes the run.
            with explainer.connect() as conn:
                replay(conn, statements, SERVER_OPTIONS)
        mode = "cold" if cold else "warm"
        repeat = cold_repeat if cold else warm_repeat
        start = perf_counter_ns()
        repeat(0)
        n = repeats or _repeats_for(perf_counter_ns() - start, cold)
        for i in range(1, n):
            repeat(i)
        if repeats is None:
            # Not adding up is usually noise (a loaded machine): pool more executions until
            # the estimate settles or a ceiling is reached. A real gap (time no hook sees)
            # does not shrink with more data and is reported after the ceiling.
            deadline = perf_counter_ns() + round(EXTEND_BUDGET_S * 1e9)
            while (
                len(samples) + n <= MAX_EXTENDED_REPEATS
                and perf_counter_ns() < deadline
                and not _table(mode, name, totals, samples, server_runs, (), tolerance).adds_up
            ):
                for _ in range(n):
                    repeat(len(samples))
        with plain.connect() as conn:
            documents = [r.document for r in replay(conn, statements, HOTSPOT_OPTIONS)]
        server_runs.hotspots = [_hotspot(d) for d in documents]
        shapes = [normalize(d) for d in documents if d is not None]
    finally:
        if inst is not None:
            inst.engine.dispose()
        explainer.dispose()
        plain.dispose()
        if not was_frozen:
            gc.unfreeze()
    table = _table(mode, name, totals, samples, server_runs, shapes, tolerance)
    if warn and not table.adds_up:
        print(f"ormbench: warning: {name} ({mode}): {table.warnings[0]}", file=sys.stderr)
    return table


def _repeats_for(once_ns: int, cold: bool) -> int:
    """Repeats filling the time budget, given one repeat took ``once_ns``."""
    low, high, budget = (
        (COLD_REPEATS, MAX_COLD_REPEATS, COLD_BUDGET_S)
        if cold
        else (WARM_REPEATS, MAX_WARM_REPEATS, WARM_BUDGET_S)
    )
    return max(low, min(high, int(budget * 1e9 / max(once_ns, 1))))


def _table(
    mode: str,
    name: str,
    totals: Sequence[int],
    samples: Sequence[_Sample],
    server_runs: _ServerRuns,
    shapes: Sequence[PlanNode],
    tolerance: float,
) -> PhaseTable:
    server = server_runs.result()
    planning = sum(s.planning_ns for s in server)
    execution = sum(s.execution_ns for s in server)
    middle = _middle(samples, key=lambda s: s.strategy_ns + s.validate_ns + s.serialize_ns)

    def centre(value: Callable[[_Sample], int]) -> int:
        return round(statistics.fmean(value(s) for s in middle))

    phases = {
        "build": centre(lambda s: s.build),
        "compile": centre(lambda s: s.compile),
        "connection": centre(lambda s: s.connection),
        "server_planning": planning,
        "server_execution": execution,
        # Cursor time less JSON per execution, then less the (separately measured) server.
        "wire": centre(lambda s: s.cursor - s.json) - planning - execution,
        "json_decode": centre(lambda s: s.json),
        "hydration": centre(lambda s: s.hydration),
        "validate": centre(lambda s: s.validate_ns),
        "serialize": centre(lambda s: s.serialize_ns),
    }
    total = round(statistics.fmean(_middle(totals, key=lambda t: t)))
    phases["remainder"] = total - sum(phases.values())
    notes: list[str] = []
    parallel = any(n.node_type in GATHER_NODES for shape in shapes for n in shape.walk())
    if phases["wire"] < 0 and parallel:
        # A parallel plan's EXPLAIN ANALYZE runs (worker start-up, instrumentation in every
        # worker) can outlast the page's own execution: the server cannot have taken longer
        # than the cursor waited, so its time is capped there; the sum is unchanged.
        excess = -phases["wire"]
        phases["server_execution"] -= excess
        phases["wire"] = 0
        notes.append(
            f"parallel plan: its EXPLAIN ANALYZE took {_ms(excess)} longer than the page's "
            "cursor calls; server execution capped at the cursor time"
        )
    flags = tuple(flag for shape in shapes for flag in seq_scans(shape))
    table = PhaseTable(
        mode=mode,
        strategy=name,
        repeats=len(samples),
        phases={k: phases[k] for k in PHASES},
        total_ns=total,
        instrumented_total_ns=centre(lambda s: s.strategy_ns + s.validate_ns + s.serialize_ns),
        cache=samples[0].cache if samples else (),
        server=server,
        orm=any(s.orm for s in samples),
        flags=flags,
        tolerance=tolerance,
        notes=tuple(notes),
    )
    return dataclasses.replace(table, warnings=tuple(_warnings(table)))


def _middle(values: Sequence[T], key: Callable[[T], int]) -> list[T]:
    """The middle half of ``values`` ranked by ``key`` (all of them below four values)."""
    ranked = sorted(values, key=key)
    cut = len(ranked) // 4
    return ranked[cut : len(ranked) - cut]


def _ms(ns: int) -> str:
    return f"{ns / 1e6:.3f} ms"


def _warnings(table: PhaseTable) -> list[str]:
    out: list[str] = []
    if not table.adds_up:
        attributed = table.total_ns - table.phases["remainder"]
        out.append(
            f"phases add up to {_ms(attributed)} but the measured total is "
            f"{_ms(table.total_ns)} ({-table.deviation:+.1%}; tolerance "
            f"±{table.tolerance:.0%}) after {table.repeats} executions: the machine is too "
            "noisy (rerun when it is quieter), or the instrumentation slows this strategy down"
        )
    if table.phases["wire"] < 0:
        out.append(
            "wire and driver is negative: the EXPLAIN ANALYZE executions took longer on the "
            "server than the strategy's cursor calls waited; the server figure is an upper bound"
        )
    if table.phases["hydration"] < 0:
        out.append("row and ORM construction is negative: hooked windows overlapped")
    return out


__all__ = [
    "COLD_REPEATS",
    "MAX_COLD_REPEATS",
    "MAX_WARM_REPEATS",
    "PHASES",
    "PHASE_LABELS",
    "RAW_DBAPI",
    "STATISTIC",
    "TOLERANCE",
    "WARM_REPEATS",
    "PhaseTable",
    "Rendering",
    "ServerTime",
    "endpoint_body",
    "endpoint_rendering",
    "measure_phases",
]
