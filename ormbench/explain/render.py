"""Explain's output: the text report (its last line the verdict) and the --json document
(schema ``ormbench/explain/schema.json``, documented in docs/explain-json.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ormbench.config import Settings
from ormbench.explain.analysis import StrategyReport
from ormbench.explain.compare import Comparison
from ormbench.explain.mechanisms import MISESTIMATE_FACTOR
from ormbench.explain.schema import SCHEMA_VERSION
from ormbench.measure.phases import PHASE_LABELS, PHASES, STATISTIC, TOLERANCE, PhaseTable
from ormbench.measure.plans import CONTENT_RELATIONS, NodeFacts, PlanNode, seq_scans
from ormbench.query.spec import ContentRequest

# Members of a repeated group named before "...".
SHOWN_MEMBERS = 3


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


def _runs(keys: Sequence[str]) -> list[tuple[int, int]]:
    """(first index, count) of each run of equal consecutive keys."""
    out: list[tuple[int, int]] = []
    for i, key in enumerate(keys):
        if out and keys[out[-1][0]] == key:
            out[-1] = (out[-1][0], out[-1][1] + 1)
        else:
            out.append((i, 1))
    return out


def _span(first: int, count: int) -> str:
    return f"[{first + 1}]" if count == 1 else f"[{first + 1}]-[{first + count}] x{count}"


def _members(indexes: Sequence[int]) -> str:
    """``[2]``, ``[2]-[101] x100`` or ``[2], [22], [42], ... x5``."""
    if indexes == list(range(indexes[0], indexes[0] + len(indexes))):
        return _span(indexes[0], len(indexes))
    shown = ", ".join(f"[{i + 1}]" for i in indexes[:SHOWN_MEMBERS])
    more = ", ..." if len(indexes) > SHOWN_MEMBERS else ""
    return f"{shown}{more} x{len(indexes)}"


def _grouped(keys: Sequence[str]) -> list[list[int]]:
    """Indexes by equal key, in the order each key first appears."""
    out: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        out.setdefault(key, []).append(i)
    return list(out.values())


def _statement_lines(report: StrategyReport) -> list[str]:
    statements = report.statements
    n = len(statements)
    lines = [
        f"SQL sent: {n} statement{'s' if n != 1 else ''} (BEGIN/COMMIT/ROLLBACK by psycopg "
        "not counted; repeats of one normalized statement collapsed)"
    ]
    errors = report.observation.replay_errors
    for members in _grouped([f"{s.normalized}|{s.server_side}" for s in statements]):
        first, count = members[0], len(members)
        statement = statements[first]
        mode = report.mode_of(first)
        cursor = "server-side cursor (DECLARE)" if statement.server_side else "client-side cursor"
        lines.append(f"  {_members(members)} " + statement.sql.replace("\n", "\n      "))
        params = statement.as_dict()["params"]
        lines.append(f"      params: {params}" + (" (the first's)" if count > 1 else ""))
        rows = sum(statements[i].rows_fetched for i in members)
        each = f" ({rows / count:,.1f} each)" if count > 1 else ""
        if statement.kind == "query":
            plan = f"{mode.plan} plan ({mode.evidence})" if mode.plan != "unknown" else ""
            detail = " · ".join(x for x in (cursor, plan) if x)
        else:
            detail = f"{statement.kind} statement: replayed, not explained"
        lines.append(f"      rows fetched {rows:,}{each} · {detail}")
        problems = sorted({errors[i] for i in members if errors[i]})
        lines.extend(f"      ! replay: {e}" for e in problems)
    return lines


def _fact_note(facts: NodeFacts) -> str:
    parts = [f"rows {facts.estimated_rows:,.0f} est / {facts.actual_rows:,.0f} actual"]
    if facts.loops > 1:
        parts.append(f"loops {facts.loops:,.0f}")
    if facts.misestimate >= MISESTIMATE_FACTOR:
        parts.append(f"misestimate x{facts.misestimate:,.0f}")
    if facts.sort_method:
        space = (
            f" {facts.sort_space_kb:,} kB {facts.sort_space_type}" if facts.sort_space_kb else ""
        )
        shared = facts.sorts_in_processes
        where = f" (the most; on disk in {shared})" if shared else ""
        parts.append(f"{facts.sort_method}{space}{where}")
    if facts.input_rows is not None and facts.node_type != "Limit":
        parts.append(f"input {facts.input_rows:,.0f} rows")
    if facts.hash_batches and facts.hash_batches > 1:
        parts.append(f"hash batches {facts.hash_batches}")
    if facts.temp_written or facts.temp_read:
        parts.append(f"temp blocks {facts.temp_written:,} written / {facts.temp_read:,} read")
    if facts.workers is not None:
        parts.append(f"workers {facts.workers}")
    parts.append(f"{facts.exclusive_ms:,.3f} ms self")
    return "  (" + ", ".join(parts) + ")"


def plan_tree_lines(shape: PlanNode, facts: Sequence[NodeFacts], indent: str = "  ") -> list[str]:
    """The plan, one node a line with its facts; identical consecutive siblings (an Append of
    100 equal scans) are shown once with their count."""
    flat = list(shape.walk())
    index = {id(node): i for i, node in enumerate(flat)}
    if len(facts) != len(flat):
        facts = ()  # facts of another plan than this shape: show the shape alone

    def block(node: PlanNode, depth: int, times: int) -> list[str]:
        i = index[id(node)]
        flag = (
            "   <-- seq scan on a content partition"
            if node.node_type == "Seq Scan" and node.relation in CONTENT_RELATIONS
            else ""
        )
        count = f" x{times}" if times > 1 else ""
        note = _fact_note(facts[i]) if i < len(facts) else ""
        lines = [f"{indent * depth}{node.described}{count}{flag}{note}"]
        for first, n in _runs([repr(c) for c in node.children]):
            lines.extend(block(node.children[first], depth + 1, n))
        return lines

    return block(shape, 0, 1)


def _plan_lines(report: StrategyReport) -> list[str]:
    lines: list[str] = []
    shapes = report.shapes
    facts = report.observation.facts
    for members in _grouped([repr(s) for s in shapes]):
        first, count = members[0], len(members)
        shape = shapes[first]
        if shape is None:
            continue
        lines.append(
            f"Plan {_members(members)}"
            + (" (identical; the first shown)" if count > 1 else "")
            + ": EXPLAIN (ANALYZE, BUFFERS) of what ran"
        )
        lines.extend(f"  {line}" for line in plan_tree_lines(shape, facts[first]))
        settings = report.observation.settings[first] or {}
        if settings:
            lines.append("  in force: " + ", ".join(f"{k}={v}" for k, v in settings.items()))
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
    captured = report.observation.captured
    return (
        f"Counters: statements {len(report.statements)} · rows fetched {fetched} · "
        f"rows returned {returned} (fetched/returned {ratio}) · "
        f"round trips {captured.round_trips} ({report.observation.rtt_ns / 1e6:.3f} ms each) · "
        f"new connections {captured.connects} · commits {captured.commits} · "
        f"Python calls {report.calls:,} · peak memory {_kib(report.peak_bytes)}"
    )


def _owner_line(report: StrategyReport) -> str:
    prof = report.observation.profile
    ranked = sorted(prof.owners, key=lambda n: -prof.owners[n].seconds)
    return "Python time by owner (cProfile): " + ", ".join(
        f"{n} {prof.share(n):.0%} ({prof.owners[n].calls:,} calls)" for n in ranked
    )


def _finding_lines(report: StrategyReport) -> list[str]:
    findings = report.findings
    if not findings:
        return ["Mechanisms: none observed"]
    return ["Mechanisms:"] + [f"  {f.mechanism}: {f.evidence}" for f in findings]


def _cache_cell(cache: Sequence[str]) -> str:
    """Compiled-cache statuses, runs collapsed: ``hit x100`` or ``miss, hit x99``."""
    return (
        ", ".join(cache[first] + (f" x{n}" if n > 1 else "") for first, n in _runs(list(cache)))
        or "-"
    )


def phase_lines(columns: Sequence[tuple[str, PhaseTable]]) -> list[str]:
    """The phase table: one row per phase, one column (ms and share) per titled table."""
    width = 26
    # Wide enough for the longest title or cache cell, so any strategy name stays aligned.
    cell = max(
        20,
        *(len(title) + 2 for title, _ in columns),
        *(len(_cache_cell(t.cache)) + 2 for _, t in columns),
    )
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
    lines.append(summary("compiled cache", [_cache_cell(t.cache) for t in tables]))
    lines.append(summary("executions", [str(t.repeats) for t in tables]))
    lines.append(
        summary(
            f"sum vs total (±{TOLERANCE:.0%})",
            [f"{'adds up' if t.adds_up else 'NO'} {-t.deviation:+.1%}" for t in tables],
        )
    )
    for title, table in columns:
        lines.extend(f"  ! {title}: {w}" for w in table.warnings)
        lines.extend(f"  note: {title}: {n}" for n in table.notes)
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
        out.append(_owner_line(report))
        out.extend(_finding_lines(report))
        out.append("")
    if comparison and comparison.sql_diff:
        out.append(f"SQL diff ({' -> '.join(comparison.strategies)}):")
        out.extend(f"  {line}" for line in comparison.sql_diff)
    if comparison and comparison.plan_diff:
        out.append(f"Plan diff ({' -> '.join(comparison.strategies)}):")
        out.extend(f"  {line}" for line in comparison.plan_diff)
    if comparison and comparison.execution_diff:
        out.append("The same plan, run differently:")
        out.extend(f"  {line}" for line in comparison.execution_diff)
    if comparison and (
        comparison.groups_added or comparison.groups_removed or comparison.groups_repeated
    ):
        out.append(f"Statement groups by normalized SQL ({' -> '.join(comparison.strategies)}):")
        out.extend(f"  added {g}" for g in comparison.groups_added)
        out.extend(f"  removed {g}" for g in comparison.groups_removed)
        out.extend(f"  sent another number of times {g}" for g in comparison.groups_repeated)
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
