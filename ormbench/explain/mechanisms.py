"""Why a page is slow: mechanisms named with their evidence, and the verdict that cites them.

The phase table says which layer the time went to; a mechanism says why, from exact,
deterministic evidence of the observed execution (``analysis.observe``): the statements and
their groups by normalized SQL, the transactions and pool events, rows fetched against
returned, the compiled-cache status, the round trips, the per-node facts of ``EXPLAIN
(ANALYZE, BUFFERS)`` of what ran, and the profile's Python time by owner. Each ``Finding``
names its mechanism (a stable key), the layer it explains, and the evidence as one line.
Most rest on exact counts and plan facts; the few that weigh time (the Python owner split,
JIT time, the round trips' priced share) print the figures they weighed. Where nothing was
observed the verdict says so instead of guessing (``outside_engine``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ormbench.measure.capture import Statement
from ormbench.measure.counters import OWNER_PSYCOPG, STRATEGY_OWNER
from ormbench.measure.plans import NodeFacts

if TYPE_CHECKING:
    from ormbench.explain.analysis import StrategyReport

# Statements of one normalized SQL, after another statement, from which the group is an N+1.
N_PLUS_ONE_MIN = 3
# Rows fetched per row returned by one statement from which rows are said to multiply.
ROW_MULTIPLICATION = 2.0
# The same for a later statement (a collection loaded per item has a few rows per item).
ROW_MULTIPLICATION_LATER = 10.0
# Rows sorted per row a LIMIT returns, and rows sorted at least, to say "sorts every match".
SORT_RATIO = 10.0
SORT_MIN_ROWS = 1000
# Rows a LIMIT reads at least (at SORT_RATIO times what it returns) to name an OFFSET's
# discarded rows: reading rows only to skip them is the mechanism, whatever the table size.
OFFSET_MIN_ROWS = 100
# Estimated vs actual rows factor, on a node with at least this many rows, for a misestimate.
MISESTIMATE_FACTOR = 10.0
MISESTIMATE_MIN_ROWS = 100
# Rows an Aggregate returning one row reads at least to say it reads every match.
AGGREGATE_MIN_ROWS = 10_000
# Rows a node filters out per row it keeps, and rows filtered out at least, for a scan
# that reads far more than it keeps (no index serves the filter).
FILTER_RATIO = 10.0
FILTER_MIN_ROWS = 1000
# Share of a statement's server time spent compiling JIT code from which JIT is named.
JIT_SHARE = 0.2
# Round trips from which their count is a mechanism, or their priced share of the total.
ROUND_TRIPS_MIN = 10
ROUND_TRIPS_SHARE = 0.25
# Share of the profile's Python time and calls (outside psycopg) from which the strategy's
# own code is named.
APP_CODE_SHARE = 0.3
# Share of that Python time from which the strategy's code is named on time alone (one
# costly call: a sleep, an explicit gc.collect()); a stray collection rarely takes that much.
APP_CODE_OVERWHELMING = 0.6
# Share of the server time from which a statement's plan facts are named in the verdict.
STATEMENT_SHARE = 0.2
# Findings cited in the verdict line, after the dominant layer.
VERDICT_FINDINGS = 3
# SQL shown in evidence: the first this many characters of the normalized statement.
SQL_CHARS = 70

# Layers as the verdict groups them: the server's two phases are one layer.
_SERVER = "server"
_PYTHON_LAYERS = ("build", "hydration", "validate", "serialize")
# Caches statuses that mean SQLAlchemy compiled the statement on this execution.
_UNCACHED = frozenset({"miss", "no cache key", "disabled", "unsupported"})
_LABEL = re.compile(r"\s+AS\s+\w+")
_TAIL = re.compile(r"\s+(LIMIT|OFFSET|FOR UPDATE)\b.*$", re.I | re.S)


@dataclass(frozen=True)
class Finding:
    """One mechanism with its evidence, and the layer (phase key or ``server``) it explains."""

    mechanism: str
    layer: str
    evidence: str
    statement: int | None = None  # 1-based, when the finding is about one statement

    def as_dict(self) -> dict[str, Any]:
        return {
            "mechanism": self.mechanism,
            "layer": self.layer,
            "evidence": self.evidence,
            "statement": self.statement,
        }


def _short(sql: str) -> str:
    text = _LABEL.sub("", sql)
    return text if len(text) <= SQL_CHARS else text[: SQL_CHARS - 3] + "..."


def groups(statements: Sequence[Statement]) -> dict[str, list[int]]:
    """Statement indexes (0-based) by normalized SQL, in the order each SQL first ran."""
    out: dict[str, list[int]] = {}
    for i, statement in enumerate(statements):
        out.setdefault(statement.normalized, []).append(i)
    return out


def _core(sql: str) -> str | None:
    """A query's FROM-onward text without labels, limit or offset (None when it has none)."""
    text = _LABEL.sub("", sql)
    at = text.find(" FROM ")
    return _TAIL.sub("", text[at:]).strip() if at >= 0 else None


def _statement_findings(report: StrategyReport) -> list[Finding]:
    statements = report.statements
    captured = report.observation.captured
    out: list[Finding] = []
    queries = [i for i, s in enumerate(statements) if s.kind == "query"]
    for sql, members in groups(statements).items():
        first = members[0]
        if statements[first].kind != "query":
            continue
        earlier = [i for i in queries if i < first and i not in members]
        # The statement whose rows drove the group: the latest earlier one that fetched at
        # least as many rows as the group has statements, else the first.
        cause = max(
            (i for i in earlier if statements[i].rows_fetched >= len(members)),
            default=earlier[0] if earlier else None,
        )
        if len(members) >= N_PLUS_ONE_MIN and cause is None:
            out.append(
                Finding(
                    "repeated_query",
                    "wire",
                    f"one statement in a loop: {len(members)} x `{_short(sql)}` "
                    f"([{first + 1}] first), one round trip and one plan each",
                    first + 1,
                )
            )
        elif len(members) >= N_PLUS_ONE_MIN and cause is not None:
            cause_sql = statements[cause].normalized
            rows = statements[cause].rows_fetched
            later = all(statements[i].transaction > statements[cause].transaction for i in members)
            if later and captured.commits:
                out.append(
                    Finding(
                        "refresh_after_commit",
                        "wire",
                        f"{len(members)} x `{_short(sql)}` after a COMMIT: every object "
                        f"[{cause + 1}] loaded ({rows} rows) is refreshed by its own statement "
                        "(expired on commit)",
                        first + 1,
                    )
                )
            else:
                out.append(
                    Finding(
                        "n_plus_one",
                        "wire",
                        f"N+1: {len(members)} x `{_short(sql)}`, one per row of "
                        f"[{cause + 1}] `{_short(cause_sql)}` ({rows} rows)",
                        first + 1,
                    )
                )
        seen: dict[str, int] = {}
        for i in members:
            key = repr(statements[i].params)
            if key in seen:
                out.append(
                    Finding(
                        "repeated_query",
                        "wire",
                        f"the same query sent twice: [{seen[key] + 1}] and [{i + 1}] "
                        f"`{_short(sql)}` with the same parameters",
                        i + 1,
                    )
                )
                break
            seen[key] = i
    # A later statement that runs an earlier one's query again inside it (subqueryload).
    for j in queries:
        for i in queries:
            if i >= j:
                break
            core = _core(statements[i].normalized)
            if (
                core
                and len(core) > 40
                and statements[j].normalized != statements[i].normalized
                and core in _LABEL.sub("", statements[j].normalized)
            ):
                out.append(
                    Finding(
                        "repeated_query",
                        "server",
                        f"the same query twice: [{j + 1}] runs [{i + 1}]'s query again "
                        f"inside it (`{_short(core)}`)",
                        j + 1,
                    )
                )
                break
    returned = len(report.page)
    for i in queries:
        fetched = statements[i].rows_fetched
        # The page statement's rows are the page's; a later statement's may be a collection
        # (tags per item): only far more than the page counts there.
        ratio = ROW_MULTIPLICATION if i == queries[0] else ROW_MULTIPLICATION_LATER
        if returned and fetched >= ratio * returned:
            out.append(
                Finding(
                    "row_multiplication",
                    "json_decode" if report.warm.phases["json_decode"] else "wire",
                    f"rows multiply: [{i + 1}] fetched {fetched:,} rows for the {returned:,} "
                    f"returned (x{fetched / returned:,.1f})",
                    i + 1,
                )
            )
    return out


def _engine_findings(report: StrategyReport) -> list[Finding]:
    obs = report.observation
    captured = obs.captured
    table = report.warm
    out: list[Finding] = []
    uncached = [i for i, c in enumerate(table.cache) if c in _UNCACHED]
    if uncached:
        statuses = ", ".join(f"[{i + 1}] {table.cache[i]}" for i in uncached[:3])
        out.append(
            Finding(
                "compiled_cache_miss",
                "compile",
                f"compiled-cache miss on a warm execution ({statuses}; {len(uncached)} of "
                f"{len(table.cache)} statements): SQLAlchemy compiles the SQL every time",
                uncached[0] + 1,
            )
        )
    if captured.checkouts > 1:
        out.append(
            Finding(
                "pool_checkouts",
                "wire",
                f"{captured.checkouts} pool checkouts per request (sessions or connections "
                "opened one after another: each its own BEGIN and ROLLBACK round trips)",
            )
        )
    if captured.connects:
        out.append(
            Finding(
                "new_connection",
                "connection",
                f"{captured.connects} new connection{'s' if captured.connects > 1 else ''} "
                f"per request (a new server backend each; {captured.checkouts} pool checkouts "
                "on a warm execution)",
            )
        )
    trips = captured.round_trips
    priced = trips * obs.rtt_ns
    share = priced / table.total_ns if table.total_ns else 0.0
    if trips >= ROUND_TRIPS_MIN or (trips > 2 and share >= ROUND_TRIPS_SHARE):
        out.append(
            Finding(
                "round_trips",
                "wire",
                f"{trips} round trips x {obs.rtt_ns / 1e6:.3f} ms each = "
                f"{priced / 1e6:.2f} ms ({share:.0%} of the measured total)",
            )
        )
    return out


def _sort_under_limit(facts: Sequence[NodeFacts]) -> list[tuple[NodeFacts, NodeFacts]]:
    """(Limit, Sort) pairs: a Sort with a Limit above it (depth-first order has parents first)."""
    pairs: list[tuple[NodeFacts, NodeFacts]] = []
    stack: list[NodeFacts] = []
    for node in facts:
        while stack and stack[-1].depth >= node.depth:
            stack.pop()
        if node.node_type in ("Sort", "Incremental Sort"):
            limit = next((a for a in reversed(stack) if a.node_type == "Limit"), None)
            if limit is not None:
                pairs.append((limit, node))
        stack.append(node)
    return pairs


def _widest_below_limit(facts: Sequence[NodeFacts]) -> tuple[NodeFacts, NodeFacts] | None:
    """(Limit, node): the node below a Limit producing the most rows, when it produces far
    more than the Limit returns (``SORT_RATIO``, at least ``SORT_MIN_ROWS``)."""
    for at, limit in enumerate(facts):
        if limit.node_type != "Limit":
            continue
        subtree = []
        for node in facts[at + 1 :]:
            if node.depth <= limit.depth:
                break
            subtree.append(node)
        widest = max(subtree, key=lambda f: f.actual_rows, default=None)
        if (
            widest is not None
            and widest.actual_rows >= SORT_MIN_ROWS
            and widest.actual_rows >= SORT_RATIO * max(limit.actual_rows, 1)
        ):
            return limit, widest
    return None


def _server_findings(report: StrategyReport) -> list[Finding]:
    obs = report.observation
    server = report.warm.server
    total = sum(s.planning_ns + s.execution_ns for s in server) or 1
    out: list[Finding] = []
    for i, facts in enumerate(obs.facts):
        if not facts:
            continue
        share = (server[i].planning_ns + server[i].execution_ns) / total if i < len(server) else 0
        work_mem = (obs.settings[i] or {}).get("work_mem", "?")
        for node in facts:
            if node.spilled:
                if node.hash_batches and node.hash_batches > 1:
                    how = (
                        f"{node.hash_batches} hash batches (planned "
                        f"{node.original_hash_batches or 1})"
                    )
                else:
                    space = f", {node.sort_space_kb:,} kB" if node.sort_space_kb else ""
                    where = f" in {node.sorts_in_processes}" if node.sorts_in_processes else ""
                    how = f"sort method {node.sort_method}{space} on disk{where}"
                out.append(
                    Finding(
                        "spill",
                        _SERVER,
                        f"[{i + 1}] {node.label} spills to disk: {how}, "
                        f"{node.temp_written:,} temp blocks written, {node.temp_read:,} read; "
                        f"work_mem {work_mem}",
                        i + 1,
                    )
                )
                break
        for limit, sort in _sort_under_limit(facts):
            rows = sort.input_rows or 0
            if rows >= SORT_MIN_ROWS and rows >= SORT_RATIO * max(limit.actual_rows, 1):
                out.append(
                    Finding(
                        "sort_before_limit",
                        _SERVER,
                        f"[{i + 1}] sorts every match before the LIMIT: {sort.label} took "
                        f"{rows:,.0f} rows ({sort.sort_method or 'sort'}) to return "
                        f"{limit.actual_rows:,.0f}",
                        i + 1,
                    )
                )
                break
        # A Limit pulls offset + count rows from its child, whatever sorts below it (a sort
        # before the LIMIT alone makes it pull just the count): more is an OFFSET's discard.
        limits = [f for f in facts if f.node_type == "Limit" and f.input_rows is not None]
        for limit in limits:
            rows = limit.input_rows or 0
            if rows >= OFFSET_MIN_ROWS and rows >= SORT_RATIO * max(limit.actual_rows, 1):
                out.append(
                    Finding(
                        "offset_discard",
                        _SERVER,
                        f"[{i + 1}] the LIMIT reads {rows:,.0f} rows to return "
                        f"{limit.actual_rows:,.0f}: every row the OFFSET skips is read, then "
                        "thrown away",
                        i + 1,
                    )
                )
                break
        named = {f.mechanism for f in out if f.statement == i + 1}
        if not named & {"sort_before_limit", "offset_discard"}:
            below = _widest_below_limit(facts)
            if below is not None:
                limit, node = below
                out.append(
                    Finding(
                        "rows_below_limit",
                        _SERVER,
                        f"[{i + 1}] {node.label} produces {node.actual_rows:,.0f} rows below a "
                        f"LIMIT that returns {limit.actual_rows:,.0f}: the page reads every "
                        "match before it can stop",
                        i + 1,
                    )
                )
        top = next((f for f in facts if f.node_type != "Limit"), None)
        if top is not None and top.node_type == "Aggregate" and top.actual_rows <= 1:
            widest = max(facts, key=lambda f: f.actual_rows)
            if widest.actual_rows >= AGGREGATE_MIN_ROWS:
                out.append(
                    Finding(
                        "aggregate_reads_all",
                        _SERVER,
                        f"[{i + 1}] {widest.label} feeds {widest.actual_rows:,.0f} rows to an "
                        "Aggregate that returns 1: an exact count (or sum) reads every match",
                        i + 1,
                    )
                )
        functions, jit_ms = obs.jit[i] if i < len(obs.jit) else (0, 0.0)
        statement_ms = (
            (server[i].planning_ns + server[i].execution_ns) / 1e6 if i < len(server) else 0.0
        )
        if functions and jit_ms >= JIT_SHARE * max(statement_ms, jit_ms):
            out.append(
                Finding(
                    "jit",
                    _SERVER,
                    f"[{i + 1}] JIT compiles {functions} functions in {jit_ms:,.1f} ms per "
                    "execution (the plan's cost crossed jit_above_cost)",
                    i + 1,
                )
            )
        if share < STATEMENT_SHARE:
            continue
        filtered = max(facts, key=lambda f: f.removed_rows)
        if filtered.removed_rows >= FILTER_MIN_ROWS and filtered.removed_rows >= (
            FILTER_RATIO * max(filtered.actual_rows, 1)
        ):
            out.append(
                Finding(
                    "filtered_scan",
                    _SERVER,
                    f"[{i + 1}] {filtered.label} reads {filtered.removed_rows:,.0f} rows its "
                    f"filter throws away to keep {filtered.actual_rows:,.0f}: no index serves "
                    "the filter",
                    i + 1,
                )
            )
        # Bitmap And/Or nodes report no rows of their own: their estimate has no actual
        # (nor do a Limit's rows come from statistics: its LIMIT value sets them, unknown to a
        # generic plan)
        measured = [f for f in facts if f.node_type not in ("BitmapAnd", "BitmapOr", "Limit")]
        worst = max(measured, key=lambda f: f.misestimate, default=None)
        if worst is None:
            continue
        if (
            worst.misestimate >= MISESTIMATE_FACTOR
            and max(worst.estimated_rows, worst.actual_rows) >= MISESTIMATE_MIN_ROWS
        ):
            out.append(
                Finding(
                    "misestimate",
                    _SERVER,
                    f"[{i + 1}] row misestimate x{worst.misestimate:,.0f}: {worst.label} "
                    f"estimated {worst.estimated_rows:,.0f} rows, got {worst.actual_rows:,.0f}",
                    i + 1,
                )
            )
    return out


def _python_findings(report: StrategyReport) -> list[Finding]:
    prof = report.observation.profile
    if not prof.owners:
        return []
    ranked = sorted(prof.owners, key=lambda n: -prof.owners[n].seconds)
    split = ", ".join(f"{n} {prof.share(n):.0%}" for n in ranked[:3] if prof.share(n) >= 0.05)
    # psycopg's profiled time is mostly waiting on the server (its round trips), which the
    # phase table already names: the application's share is of the Python work around it.
    work = (OWNER_PSYCOPG,)
    own = [n for n in ranked if n.startswith(STRATEGY_OWNER)]
    # Time and calls both: one garbage collection inside the strategy's few lines can give
    # it a share of the time, never a share of the calls.
    app = [
        n
        for n in own
        if prof.share(n, without=work) >= APP_CODE_OVERWHELMING
        or (
            prof.share(n, without=work) >= APP_CODE_SHARE
            and prof.call_share(n, without=work) >= APP_CODE_SHARE
        )
    ]
    if app:
        name = app[0]
        return [
            Finding(
                "application_code",
                "hydration",
                f"application code: {name} owns {prof.share(name, without=work):.0%} of the "
                f"Python time outside psycopg ({prof.owners[name].calls:,} of {prof.calls:,} "
                f"calls; all Python time: {split})",
            )
        ]
    return [Finding("python_owners", "hydration", f"Python time by owner: {split}")]


def _outside_engine(report: StrategyReport) -> Finding | None:
    if report.statements or not len(report.page):
        return None
    return Finding(
        "outside_engine",
        "build",
        f"0 statements captured while {len(report.page)} rows came back: the strategy "
        "queried outside the engine explain gave it (its own engine or connection), which "
        "no phase or plan here sees",
    )


def find(report: StrategyReport) -> list[Finding]:
    """Every mechanism observed in ``report``'s execution, with its evidence."""
    outside = _outside_engine(report)
    if outside:
        return [outside, *_python_findings(report)]
    return [
        *_statement_findings(report),
        *_engine_findings(report),
        *_server_findings(report),
        *_python_findings(report),
    ]


# Mechanisms cited first whatever the dominant layer, most specific first: each costs in
# several layers at once (an N+1 is compiles, round trips, plans and objects) or names the very
# cause of the time.
_CAUSE_RANK = (
    "spill",
    "sort_before_limit",
    "offset_discard",
    "rows_below_limit",
    "aggregate_reads_all",
    "filtered_scan",
    "jit",
    "refresh_after_commit",
    "n_plus_one",
    "repeated_query",
    "new_connection",
    "compiled_cache_miss",
    "application_code",
)
_CAUSES = frozenset(_CAUSE_RANK)
# Order of mechanisms among those explaining the same layer: the most specific first.
_RANK = (
    "outside_engine",
    *_CAUSE_RANK,
    "row_multiplication",
    "pool_checkouts",
    "misestimate",
    "round_trips",
    "python_owners",
)


def _layer_of(table_layer: str) -> set[str]:
    if table_layer == _SERVER:
        return {_SERVER}
    if table_layer in _PYTHON_LAYERS:
        return set(_PYTHON_LAYERS)
    return {table_layer}


def dominant_layer(report: StrategyReport) -> tuple[str, float]:
    """The warm table's dominant layer (phase key, or ``server``) and its share."""
    table = report.warm
    layers = {
        k: v for k, v in table.phases.items() if k not in ("server_planning", "server_execution")
    }
    layers[_SERVER] = table.phases["server_planning"] + table.phases["server_execution"]
    name = max(layers, key=lambda k: layers[k])
    return name, (layers[name] / table.total_ns if table.total_ns else 0.0)


def verdict(report: StrategyReport) -> str:
    """The dominant layer, then the mechanisms: causes first (``_CAUSES``), then the others
    that explain the dominant layer, then the rest; at most ``VERDICT_FINDINGS``.

    E.g. ``71% server; [1] Sort spills to disk: ...``; ``61% ORM hydration; application
    code: strategy code (traps) owns 80% of Python time ...``. With nothing observed (no
    statement while rows came back) it says INCONCLUSIVE, never a layer.
    """
    findings = find(report)
    if findings and findings[0].mechanism == "outside_engine":
        return f"INCONCLUSIVE: {findings[0].evidence}"
    layer, _share = dominant_layer(report)
    head = report.warm.verdict()
    named = sorted(findings, key=lambda f: _RANK.index(f.mechanism))
    layers = _layer_of(layer)
    causes = [f for f in named if f.mechanism in _CAUSES]
    matching = [f for f in named if f not in causes and f.layer in layers]
    rest = [f for f in named if f not in causes and f not in matching]
    cited = [*causes, *(f for f in matching if f.mechanism != "python_owners" or not causes)]
    cited += [f for f in rest if f.mechanism != "python_owners"]
    if layer == _SERVER and cited and cited[0].layer == _SERVER:
        # The mechanism names the hot spot with its evidence; a scan flag would only blur it.
        head = head.split(":", 1)[0]
    return "; ".join([head, *(f.evidence for f in cited[:VERDICT_FINDINGS])])


__all__ = ["Finding", "dominant_layer", "find", "groups", "verdict"]
