"""Explain's output: the text report (its last line the verdict) and the --json document
(schema ``ormbench/explain/schema.json``, documented in docs/explain-json.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ormbench.config import Settings
from ormbench.explain.analysis import StrategyReport
from ormbench.explain.compare import Comparison
from ormbench.explain.schema import SCHEMA_VERSION
from ormbench.measure.phases import PHASE_LABELS, PHASES, STATISTIC, TOLERANCE, PhaseTable
from ormbench.measure.plans import render_shape, seq_scans
from ormbench.query.spec import ContentRequest


def document(
    settings: Settings,
    scenario: str,
    req: ContentRequest,
    reports: Sequence[StrategyReport],
    comparison: Comparison | None,
) -> dict[str, Any]:
    """The --json document (schema ``ormbench/explain/schema.json``)."""
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


__all__ = ["document", "phase_lines", "render"]
