"""``ormbench explain``: where the time of one page went, for the exact SQL that was sent.

For one strategy (or two, side by side, with ``--vs``) on one scenario and page size it
prints the SQL sent, the plan shape of each statement (with the generic/custom plan that
ran), the deterministic counters, the phase table (warm; cold too with ``--cold``), and a
one-line verdict naming the dominant layer. With ``--vs`` the last line says plainly whether
the two strategies sent the same SQL and got the same plan: the question the production
team never asked. ``--json`` prints one document of the schema in ``EXPLAIN_SCHEMA``,
documented in docs/explain-json.md (a test keeps the two identical).

Every measurement is its own execution: capture, plan-mode probe, cProfile count and
tracemalloc peak each run the strategy once more, and no timed execution carries any of them.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ormbench.cli import command
from ormbench.commands.page import case_arguments, resolve_request
from ormbench.config import Settings
from ormbench.errors import ConfigError
from ormbench.measure.capture import Statement, capture
from ormbench.measure.counters import call_count, peak_memory
from ormbench.measure.phases import (
    COLD_REPEATS,
    MAX_COLD_REPEATS,
    MAX_WARM_REPEATS,
    PHASE_LABELS,
    PHASES,
    STATISTIC,
    TOLERANCE,
    WARM_REPEATS,
    PhaseTable,
    measure_phases,
)
from ormbench.measure.plans import (
    PlanMode,
    PlanNode,
    diff_shapes,
    plan_shapes,
    probe_plan_modes,
    render_shape,
    seq_scans,
)
from ormbench.query.spec import ContentRequest, Page
from ormbench.strategies import (
    Strategy,
    StrategyContext,
    get_strategy,
    label,
    load_strategy_modules,
)
from ormbench.workspace import Workspace, open_workspace

# Version of the --json document; bump it (and docs/explain-json.md) on any change of keys.
SCHEMA_VERSION = 1
# SQL diff lines shown per statement pair; a label-only difference is one line per column.
SQL_DIFF_LINES = 12
# A column label of a select list (``Query`` labels every column, ``select()`` does not).
_LABEL = re.compile(r"\s+AS\s+\w+")
# Untimed executions before the capture, so it records a warm execution's statements.
WARMUP = 2


# --- the documented schema -----------------------------------------------------------------

_NULLABLE_STRING = {"type": ["string", "null"]}
_STRINGS = {"type": "array", "items": {"type": "string"}}

# A small subset of JSON Schema (type, properties, required, additionalProperties, items,
# enum, const, $ref into $defs), so the document is checkable without a dependency.
EXPLAIN_SCHEMA: dict[str, Any] = {
    "title": "ormbench explain --json",
    "type": "object",
    "required": [
        "schema_version",
        "dataset",
        "scenario",
        "page_size",
        "json_loader",
        "request",
        "strategies",
        "comparison",
    ],
    "additionalProperties": False,
    "properties": {
        "schema_version": {"type": "integer", "const": SCHEMA_VERSION},
        "dataset": {"type": "string"},
        "scenario": {"type": "string"},
        "page_size": {"type": "integer"},
        "json_loader": {"type": "string"},
        "request": {"type": "object", "additionalProperties": _STRINGS},
        "strategies": {"type": "array", "items": {"$ref": "#/$defs/strategy_report"}},
        "comparison": {"oneOf": [{"type": "null"}, {"$ref": "#/$defs/comparison"}]},
    },
    "$defs": {
        "strategy_report": {
            "type": "object",
            "required": ["strategy", "label", "statements", "counters", "phases", "verdict"],
            "additionalProperties": False,
            "properties": {
                "strategy": {"type": "string"},
                "label": {"type": "string"},
                "statements": {"type": "array", "items": {"$ref": "#/$defs/statement"}},
                "counters": {"$ref": "#/$defs/counters"},
                "phases": {
                    "type": "object",
                    "required": ["warm", "cold"],
                    "additionalProperties": False,
                    "properties": {
                        "warm": {"$ref": "#/$defs/phase_table"},
                        "cold": {"oneOf": [{"type": "null"}, {"$ref": "#/$defs/phase_table"}]},
                    },
                },
                "verdict": {"type": "string"},
            },
        },
        "statement": {
            "type": "object",
            "required": [
                "sql",
                "params",
                "rows_fetched",
                "server_side",
                "plan",
                "plan_mode",
                "seq_scans",
            ],
            "additionalProperties": False,
            "properties": {
                "sql": {"type": "string"},
                "params": {"type": ["object", "array", "null"]},
                "rows_fetched": {"type": "integer"},
                "server_side": {"type": "boolean"},
                "plan": {"$ref": "#/$defs/plan_node"},
                "plan_mode": {"$ref": "#/$defs/plan_mode"},
                "seq_scans": _STRINGS,
            },
        },
        "plan_node": {
            "type": "object",
            "required": [
                "node_type",
                "relation",
                "index",
                "join_type",
                "direction",
                "parent",
                "subplan",
                "children",
            ],
            "additionalProperties": False,
            "properties": {
                "node_type": {"type": "string"},
                "relation": _NULLABLE_STRING,
                "index": _NULLABLE_STRING,
                "join_type": _NULLABLE_STRING,
                "direction": _NULLABLE_STRING,
                "parent": _NULLABLE_STRING,
                "subplan": _NULLABLE_STRING,
                "children": {"type": "array", "items": {"$ref": "#/$defs/plan_node"}},
            },
        },
        "plan_mode": {
            "type": "object",
            "required": ["plan", "prepared", "evidence"],
            "additionalProperties": False,
            "properties": {
                "plan": {"type": "string", "enum": ["custom", "generic", "unknown"]},
                "prepared": {"type": "boolean"},
                "evidence": {"type": "string"},
            },
        },
        "counters": {
            "type": "object",
            "required": [
                "statements",
                "rows_fetched",
                "rows_returned",
                "python_calls",
                "peak_bytes",
            ],
            "additionalProperties": False,
            "properties": {
                "statements": {"type": "integer"},
                "rows_fetched": {"type": "integer"},
                "rows_returned": {"type": "integer"},
                "python_calls": {"type": "integer"},
                "peak_bytes": {"type": "integer"},
            },
        },
        "phase_table": {
            "type": "object",
            "required": [
                "mode",
                "repeats",
                "statistic",
                "unit",
                "total_ns",
                "instrumented_total_ns",
                "phases",
                "cache",
                "server",
                "orm",
                "adds_up",
                "deviation",
                "tolerance",
                "warnings",
                "verdict",
            ],
            "additionalProperties": False,
            "properties": {
                "mode": {"type": "string", "enum": ["warm", "cold"]},
                "repeats": {"type": "integer"},
                "statistic": {"type": "string", "const": STATISTIC},
                "unit": {"type": "string", "const": "ns"},
                "total_ns": {"type": "integer"},
                "instrumented_total_ns": {"type": "integer"},
                "phases": {
                    "type": "object",
                    "required": list(PHASES),
                    "additionalProperties": False,
                    "properties": {name: {"type": "integer"} for name in PHASES},
                },
                "cache": _STRINGS,
                "server": {"type": "array", "items": {"$ref": "#/$defs/server_time"}},
                "orm": {"type": "boolean"},
                "adds_up": {"type": "boolean"},
                "deviation": {"type": "number"},
                "tolerance": {"type": "number"},
                "warnings": _STRINGS,
                "verdict": {"type": "string"},
            },
        },
        "server_time": {
            "type": "object",
            "required": [
                "planning_ns",
                "execution_ns",
                "shared_hit_blocks",
                "shared_read_blocks",
                "hotspot",
            ],
            "additionalProperties": False,
            "properties": {
                "planning_ns": {"type": "integer"},
                "execution_ns": {"type": "integer"},
                "shared_hit_blocks": {"type": "integer"},
                "shared_read_blocks": {"type": "integer"},
                "hotspot": _NULLABLE_STRING,
            },
        },
        "comparison": {
            "type": "object",
            "required": [
                "strategies",
                "same_sql",
                "same_plan",
                "same_page",
                "sql_diff",
                "plan_diff",
                "verdict",
            ],
            "additionalProperties": False,
            "properties": {
                "strategies": _STRINGS,
                "same_sql": {"type": "boolean"},
                "same_plan": {"type": "boolean"},
                "same_page": {"type": "boolean"},
                "sql_diff": _STRINGS,
                "plan_diff": _STRINGS,
                "verdict": {"type": "string"},
            },
        },
    },
}

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def validate(document: Any, schema: Mapping[str, Any] = EXPLAIN_SCHEMA) -> list[str]:
    """Where ``document`` breaks ``schema`` (the subset EXPLAIN_SCHEMA uses); empty if valid."""
    root = schema
    problems: list[str] = []

    def is_type(value: Any, name: str) -> bool:
        if isinstance(value, bool) and name in ("integer", "number"):
            return False  # JSON booleans are not numbers, whatever Python says
        return isinstance(value, _TYPES[name])

    def check(value: Any, node: Mapping[str, Any], path: str) -> None:
        if "$ref" in node:
            node = root["$defs"][node["$ref"].rsplit("/", 1)[-1]]
        if "oneOf" in node:
            results = []
            for option in node["oneOf"]:
                before = len(problems)
                check(value, option, path)
                results.append(problems[before:])
                del problems[before:]
            if sum(1 for r in results if not r) != 1:
                problems.append(f"{path}: matches none (or several) of its alternatives")
            return
        types = node.get("type")
        if types is not None:
            names = [types] if isinstance(types, str) else types
            if not any(is_type(value, n) for n in names):
                problems.append(f"{path}: expected {' or '.join(names)}, got {value!r:.60}")
                return
        if "const" in node and value != node["const"]:
            problems.append(f"{path}: expected {node['const']!r}, got {value!r}")
        if "enum" in node and value not in node["enum"]:
            problems.append(f"{path}: {value!r} is not one of {node['enum']}")
        if isinstance(value, dict):
            properties = node.get("properties", {})
            problems.extend(
                f"{path}: missing key {key!r}"
                for key in node.get("required", ())
                if key not in value
            )
            extra = node.get("additionalProperties", True)
            for key, item in value.items():
                if key in properties:
                    check(item, properties[key], f"{path}.{key}")
                elif extra is False:
                    problems.append(f"{path}: unexpected key {key!r}")
                elif isinstance(extra, dict):
                    check(item, extra, f"{path}.{key}")
        if isinstance(value, list) and "items" in node:
            for i, item in enumerate(value):
                check(item, node["items"], f"{path}[{i}]")

    check(document, schema, "$")
    return problems


# --- analysis ------------------------------------------------------------------------------


@dataclass
class StrategyReport:
    """Everything explain knows about one strategy on one request."""

    strategy: str
    label: str
    page: Page
    statements: list[Statement]
    shapes: list[PlanNode]
    modes: list[PlanMode]
    calls: int
    peak_bytes: int
    warm: PhaseTable
    cold: PhaseTable | None

    @property
    def verdict(self) -> str:
        return self.warm.verdict()

    def as_dict(self) -> dict[str, Any]:
        statements = []
        for i, statement in enumerate(self.statements):
            shape = self.shapes[i]
            mode = self.modes[i] if i < len(self.modes) else PlanMode("unknown", False, "")
            statements.append(
                {
                    **statement.as_dict(),
                    "plan": shape.as_dict(),
                    "plan_mode": mode.as_dict(),
                    "seq_scans": seq_scans(shape),
                }
            )
        return {
            "strategy": self.strategy,
            "label": self.label,
            "statements": statements,
            "counters": {
                "statements": len(self.statements),
                "rows_fetched": sum(s.rows_fetched for s in self.statements),
                "rows_returned": len(self.page),
                "python_calls": self.calls,
                "peak_bytes": self.peak_bytes,
            },
            "phases": {
                "warm": self.warm.as_dict(),
                "cold": self.cold.as_dict() if self.cold else None,
            },
            "verdict": self.verdict,
        }


def analyze(
    ws: Workspace,
    strategy: Strategy | str,
    req: ContentRequest,
    *,
    loader: str = "json",
    cold: bool = False,
    repeats: int | None = None,
) -> StrategyReport:
    """Capture, plan, probe, count and attribute one strategy (a name or a function)."""
    fn = get_strategy(strategy) if isinstance(strategy, str) else strategy
    name = strategy if isinstance(strategy, str) else fn.__name__
    engine = ws.engine_for(loader)
    try:
        ctx = StrategyContext(engine)
        for _ in range(WARMUP):
            fn(ctx, req)
        with capture(engine) as captured:
            page = fn(ctx, req)
        statements = list(captured.statements)
        shapes = plan_shapes(engine, statements)
        modes = probe_plan_modes(engine, lambda: fn(ctx, req))
        calls = call_count(lambda: fn(ctx, req))
        peak = peak_memory(lambda: fn(ctx, req))
    finally:
        engine.dispose()
    common = {"loader": loader, "repeats": repeats, "statements": statements}
    warm = measure_phases(ws.server, ws.schema, fn, req, **common)
    cold_table = (
        measure_phases(ws.server, ws.schema, fn, req, cold=True, **common) if cold else None
    )
    return StrategyReport(
        name, label(fn), page, statements, shapes, modes, calls, peak, warm, cold_table
    )


@dataclass(frozen=True)
class Comparison:
    """Did two strategies send the same SQL, and get the same plan?"""

    strategies: tuple[str, str]
    same_sql: bool
    same_plan: bool
    same_page: bool
    sql_diff: tuple[str, ...]
    plan_diff: tuple[str, ...]

    @property
    def verdict(self) -> str:
        """``same SQL, same plan`` / ``different SQL, same plan`` / ``... plan: <diff>``."""
        sql = "same SQL" if self.same_sql else "different SQL"
        if self.same_plan:
            return f"{sql}, same plan"
        return f"{sql}, different plan: {'; '.join(self.plan_diff[:2])}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "strategies": list(self.strategies),
            "same_sql": self.same_sql,
            "same_plan": self.same_plan,
            "same_page": self.same_page,
            "sql_diff": list(self.sql_diff),
            "plan_diff": list(self.plan_diff),
            "verdict": self.verdict,
        }


def _fragments(statement: Statement) -> list[str]:
    # One select-list item or clause per line, so a diff names the column or clause.
    text = f"DECLARE ... CURSOR FOR {statement.sql}" if statement.server_side else statement.sql
    return [part.strip() for part in re.split(r",\s+|\n", text) if part.strip()]


def sql_diff(a: Sequence[Statement], b: Sequence[Statement]) -> list[str]:
    """The differences between two statement lists, a few diff lines per statement."""
    out: list[str] = []
    if len(a) != len(b):
        out.append(f"{len(a)} statements -> {len(b)} statements")
    for i, (x, y) in enumerate(zip(a, b, strict=False), start=1):
        if x.params != y.params:
            out.append(f"[{i}] parameters differ")
        if x.sql != y.sql and _LABEL.sub("", x.sql) == _LABEL.sub("", y.sql):
            # Query's labelled select list vs select()'s: worth one line, not thirty.
            pairs = zip(_fragments(x), _fragments(y), strict=False)
            left, right = next(((p, q) for p, q in pairs if p != q), ("...", "..."))
            out.append(f"[{i}] the same statement but for column labels, e.g. {left} -> {right}")
            continue
        lines = [
            line
            for line in difflib.unified_diff(_fragments(x), _fragments(y), lineterm="", n=0)
            if not line.startswith(("---", "+++", "@@"))
        ]
        if len(lines) > SQL_DIFF_LINES:
            lines = [*lines[:SQL_DIFF_LINES], f"... {len(lines) - SQL_DIFF_LINES} more lines"]
        out.extend(f"[{i}] {line}" for line in lines)
    return out


def _same_page(a: Page, b: Page) -> bool:
    common = [c for c in a.columns if c in b.columns]
    return a.ids == b.ids and a.project(common) == b.project(common)


def compare(a: StrategyReport, b: StrategyReport) -> Comparison:
    """Compare what two strategies sent, the plans they got and the pages they returned."""

    def key(s: Statement) -> tuple[str, str, bool]:
        return (s.sql, repr(s.params), s.server_side)

    same_sql = [key(s) for s in a.statements] == [key(s) for s in b.statements]
    plan_diff: list[str] = []
    if len(a.shapes) != len(b.shapes):
        plan_diff.append(f"{len(a.shapes)} plans -> {len(b.shapes)} plans")
    for i, (x, y) in enumerate(zip(a.shapes, b.shapes, strict=False), start=1):
        prefix = f"[{i}] " if max(len(a.shapes), len(b.shapes)) > 1 else ""
        plan_diff.extend(prefix + line for line in diff_shapes(x, y))
    for i, (x, y) in enumerate(zip(a.modes, b.modes, strict=False), start=1):
        if x.plan != y.plan:
            plan_diff.append(f"[{i}] {x.plan} plan -> {y.plan} plan")
    return Comparison(
        (a.strategy, b.strategy),
        same_sql,
        not plan_diff,
        _same_page(a.page, b.page),
        tuple(sql_diff(a.statements, b.statements)),
        tuple(plan_diff),
    )


def document(
    settings: Settings,
    scenario: str,
    req: ContentRequest,
    reports: Sequence[StrategyReport],
    comparison: Comparison | None,
) -> dict[str, Any]:
    """The --json document (schema ``EXPLAIN_SCHEMA``)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "dataset": settings.dataset,
        "scenario": scenario,
        "page_size": req.page_size,
        "json_loader": settings.json_loader[0],
        "request": req.to_query(),
        "strategies": [r.as_dict() for r in reports],
        "comparison": comparison.as_dict() if comparison else None,
    }


# --- text ----------------------------------------------------------------------------------


def _kib(n: int) -> str:
    return f"{n / 1024:,.1f} KiB"


def _statement_lines(report: StrategyReport) -> list[str]:
    n = len(report.statements)
    lines = [f"SQL sent: {n} statement{'s' if n != 1 else ''} (BEGIN/ROLLBACK not counted)"]
    for i, statement in enumerate(report.statements, start=1):
        mode = report.modes[i - 1] if i <= len(report.modes) else None
        cursor = "server-side cursor (DECLARE)" if statement.server_side else "client-side cursor"
        lines.append(f"  [{i}] " + statement.sql.replace("\n", "\n      "))
        lines.append(f"      params: {statement.as_dict()['params']}")
        plan = f"{mode.plan} plan ({mode.evidence})" if mode else "plan unknown"
        lines.append(f"      rows fetched {statement.rows_fetched} · {cursor} · {plan}")
    return lines


def _plan_lines(report: StrategyReport) -> list[str]:
    lines: list[str] = []
    for i, shape in enumerate(report.shapes, start=1):
        lines.append(f"Plan shape [{i}]:")
        lines.extend(f"  {line}" for line in render_shape(shape, indent="  "))
        flags = seq_scans(shape)
        lines.append(
            "  ! sequential scan on a content partition: " + ", ".join(flags)
            if flags
            else "  no sequential scan on a content partition"
        )
    return lines


def _counter_line(report: StrategyReport) -> str:
    fetched = sum(s.rows_fetched for s in report.statements)
    returned = len(report.page)
    ratio = f"{fetched / returned:.2f}" if returned else "n/a"
    return (
        f"Counters: statements {len(report.statements)} · rows fetched {fetched} · "
        f"rows returned {returned} (fetched/returned {ratio}) · "
        f"Python calls {report.calls:,} · peak memory {_kib(report.peak_bytes)}"
    )


def phase_lines(columns: Sequence[tuple[str, PhaseTable]]) -> list[str]:
    """The phase table: one row per phase, one column (ms and share) per titled table."""
    width = 26
    cell = 20
    head = " " * width + "".join(f"{title:>{cell}}" for title, _ in columns)
    lines = [head]
    for phase in PHASES:
        name = PHASE_LABELS[phase]
        if phase == "hydration" and not any(t.orm for _, t in columns):
            name = "row construction"
        row = f"  {name:<{width - 2}}"
        for _, table in columns:
            ms = table.phases[phase] / 1e6
            row += f"{ms:>11.3f} {100 * table.share(phase):>6.1f}%".rjust(cell)
        lines.append(row)
    lines.append("  " + "-" * (width - 2 + cell * len(columns)))

    def summary(name: str, values: Sequence[str]) -> str:
        return f"  {name:<{width - 2}}" + "".join(f"{v:>{cell}}" for v in values)

    tables = [t for _, t in columns]
    lines.append(
        summary(
            "sum of phases", [f"{(t.total_ns - t.phases['remainder']) / 1e6:.3f}" for t in tables]
        )
    )
    lines.append(summary("measured total", [f"{t.total_ns / 1e6:.3f}" for t in tables]))
    lines.append(summary("compiled cache", [",".join(t.cache) or "-" for t in tables]))
    lines.append(summary("executions", [str(t.repeats) for t in tables]))
    lines.append(
        summary(
            f"sum vs total (±{TOLERANCE:.0%})",
            [f"{'adds up' if t.adds_up else 'NO'} {-t.deviation:+.1%}" for t in tables],
        )
    )
    for title, table in columns:
        lines.extend(f"  ! {title}: {w}" for w in table.warnings)
    return lines


def render(
    settings: Settings,
    scenario: str,
    req: ContentRequest,
    reports: Sequence[StrategyReport],
    comparison: Comparison | None,
) -> str:
    """The text report; its last line is the verdict (or, with two strategies, the comparison)."""
    out = [
        f"ormbench explain: scenario {scenario}, page size {req.page_size}, "
        f"dataset {settings.dataset}, JSON loader {settings.json_loader[0]}",
        "",
    ]
    first = reports[0]
    for report in reports:
        out.append(f"== {report.strategy}: {report.label}")
        if report is not first and comparison and comparison.same_sql:
            out.append(f"SQL sent: the same as {first.strategy}")
        else:
            out.extend(_statement_lines(report))
        if report is not first and comparison and comparison.same_plan:
            out.append(f"Plan shape: the same as {first.strategy}")
        else:
            out.extend(_plan_lines(report))
        out.append(_counter_line(report))
        out.append("")
    if comparison and comparison.sql_diff:
        out.append(f"SQL diff ({' -> '.join(comparison.strategies)}):")
        out.extend(f"  {line}" for line in comparison.sql_diff)
    if comparison and comparison.plan_diff:
        out.append(f"Plan diff ({' -> '.join(comparison.strategies)}):")
        out.extend(f"  {line}" for line in comparison.plan_diff)
    if comparison and not comparison.same_page:
        out.append("! the two strategies returned different pages")
    out.append(
        f"Phases (ms and share of the measured total; {STATISTIC} over the executions counted "
        "below, server from EXPLAIN ANALYZE of the captured SQL):"
    )
    columns: list[tuple[str, PhaseTable]] = []
    for report in reports:
        columns.append((f"{report.strategy} warm" if len(reports) > 1 else "warm", report.warm))
        if report.cold:
            title = f"{report.strategy} cold" if len(reports) > 1 else "cold"
            columns.append((title, report.cold))
    out.extend(phase_lines(columns))
    out.append("")
    for report in reports:
        who = f"{report.strategy}: " if len(reports) > 1 else ""
        if report.cold:
            out.append(f"{who}cold: {report.cold.verdict()}")
        out.append(f"{who}{'warm: ' if report.cold else ''}{report.verdict}")
    if comparison:
        out.append(f"{' vs '.join(comparison.strategies)}: {comparison.verdict}")
    return "\n".join(out)


# --- the command ---------------------------------------------------------------------------


def _arguments(parser: argparse.ArgumentParser) -> None:
    case_arguments(parser)
    parser.add_argument("--vs", metavar="STRATEGY", help="a second strategy, side by side")
    parser.add_argument("--json", action="store_true", help="one JSON document (see --help)")
    parser.add_argument(
        "--cold",
        action="store_true",
        help="also attribute a cold execution (fresh engine: new connection, empty cache)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help=(
            "executions per phase table, exactly (default: what fits a 2 s budget, "
            f"{WARM_REPEATS}-{MAX_WARM_REPEATS} warm, {COLD_REPEATS}-{MAX_COLD_REPEATS} cold, "
            "pooling more while the phases do not add up)"
        ),
    )


@command(
    "explain",
    "where one page's time goes (server, wire, JSON, ORM), for the exact SQL sent; "
    "--vs compares two strategies' SQL and plans",
    _arguments,
)
def cmd_explain(args: argparse.Namespace, settings: Settings) -> int:
    if settings.strategies_from:  # user strategies are explainable like built-in ones
        load_strategy_modules(settings.strategies_from.split(","))
    names = [args.strategy] + ([args.vs] if args.vs else [])
    for name in names:
        get_strategy(name)  # an unknown name fails before any server starts
    if args.repeats is not None and args.repeats < 1:
        raise ConfigError(f"--repeats must be a positive integer, got {args.repeats}")
    loader = settings.json_loader[0]
    with open_workspace(settings) as ws:
        req = resolve_request(ws, args.scenario, args.page_size)
        reports = [
            analyze(ws, name, req, loader=loader, cold=args.cold, repeats=args.repeats)
            for name in names
        ]
    comparison = compare(reports[0], reports[1]) if len(reports) > 1 else None
    if args.json:
        print(json.dumps(document(settings, args.scenario, req, reports, comparison), indent=2))
    else:
        print(render(settings, args.scenario, req, reports, comparison))
    return 0


__all__ = [
    "EXPLAIN_SCHEMA",
    "SCHEMA_VERSION",
    "Comparison",
    "StrategyReport",
    "analyze",
    "compare",
    "document",
    "phase_lines",
    "render",
    "sql_diff",
    "validate",
]
