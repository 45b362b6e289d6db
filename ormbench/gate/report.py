"""The gate's markdown report: a verdict line, then what changed, by tier, in one table.

Layout: the verdict (PASS, FAIL or INCONCLUSIVE, and counts: judged, unchanged, improved,
regressed, undecided), each undecided benchmark with the smallest change its rounds could
resolve, the two sides and their environment, missing and
new benchmarks (loud), one table of every finding (exact, calls, timing, budget) with base,
head, change, p-value and the limit that applied, the plan diffs, the shared-cost note, and a
collapsed table of every benchmark's timing (ratios and absolute medians). The same text goes
to stdout and, under GitHub Actions, to ``$GITHUB_STEP_SUMMARY``.
"""

from __future__ import annotations

import math
from typing import Any

from ormbench.gate.comparable import environment
from ormbench.gate.tiers import FLOOR, Decision, Finding, GateResult, Outcome, Tier, Verdict

# Order of tiers in the findings table: the order the gate checks them.
TIER_ORDER = (Tier.PRESENCE, Tier.EXACT, Tier.CALLS, Tier.TIMING, Tier.BUDGET)
# Plan diff lines shown per benchmark before the rest is cut (a replaced join can be long).
MAX_PLAN_DIFF_LINES = 60


def render(result: GateResult) -> str:
    """The whole report as markdown."""
    lines: list[str] = [_headline(result), ""]
    lines += _sides(result)
    lines += _undecided(result)
    lines += _presence(result)
    lines += _findings_table(result)
    lines += _plan_diffs(result)
    lines += _floors(result)
    lines += _notes(result)
    lines += _all_timings(result)
    return "\n".join(lines).rstrip() + "\n"


def _headline(result: GateResult) -> str:
    decision = result.decision
    if result.budgets_only:
        if decision is Decision.FAIL:
            verdict = f"FAIL - {len(result.failures)} benchmark(s) over budget"
        elif decision is Decision.INCONCLUSIVE:
            verdict = "INCONCLUSIVE - no budget applies to this run"
        else:
            verdict = "PASS"
        return f"## ormbench budgets: {verdict} ({len(result.verdicts)} budget(s) checked)"
    c = result.counts()
    gated = c["judged"] + c["undecided"]
    tally = (
        f"{c['judged']} of {gated} judged: {c['unchanged']} unchanged, {c['improved']} "
        f"improved, {c['regressed']} regressed; {c['undecided']} undecided"
    )
    if decision is Decision.FAIL:
        counts: dict[str, int] = {}
        for v in result.failures:
            for f in v.findings:
                if f.fails:
                    key = f"{f.outcome} ({f.tier})"
                    counts[key] = counts.get(key, 0) + 1
        parts = ", ".join(f"{n} {what}" for what, n in sorted(counts.items()))
        return f"## ormbench gate: FAIL - {len(result.failures)} benchmark(s): {parts} ({tally})"
    if decision is Decision.INCONCLUSIVE and not gated:
        return "## ormbench gate: INCONCLUSIVE - no benchmark present on both sides"
    return f"## ormbench gate: {decision} ({tally})"


def _undecided(result: GateResult) -> list[str]:
    undecided = result.undecided
    if not undecided:
        return []
    lines = [
        f"### {len(undecided)} benchmark(s) undecided: not judged is not the same as unchanged",
        "",
        "Each needs more rounds (or a quieter machine); the change its rounds could have told "
        "from noise:",
        "",
    ]
    for v in undecided:
        rounds = (
            f"{len(v.base.ratio_samples)}/{len(v.head.ratio_samples)} rounds"
            if (v.base is not None and v.head is not None)
            else ""
        )
        smallest = (
            f"smallest resolvable change ±{v.resolvable:.1%} ({rounds}); "
            if v.resolvable is not None
            else f"{rounds}; "
        )
        lines.append(f"- `{v.name}`: {smallest}{v.undecided or 'no tier decided'}")
    return [*lines, ""]


def _sides(result: GateResult) -> list[str]:
    env = environment(result.head)
    base_v, head_v = result.ormbench_versions
    server = f"PostgreSQL {result.head.ormbench.get('server', {}).get('version', '?')}"
    backend = env.get("server backend", "?")
    sides = (
        f"run **{result.head.label}** ({_runs(result.head)})"
        if result.budgets_only
        else f"base **{result.base.label}** ({_runs(result.base)}) · head "
        f"**{result.head.label}** ({_runs(result.head)})"
    )
    lines = [
        sides,
        "",
        f"dataset {env.get('dataset fingerprint', '?')} · {server} ({backend}) · Python "
        f"{env.get('python', '?')} · SQLAlchemy {env.get('SQLAlchemy', '?')} · psycopg "
        f"{env.get('psycopg', '?')} · ormbench {base_v}"
        + (f" → {head_v} (code under test)" if head_v != base_v else ""),
        "",
        f"limits: {result.config.source}; default timing >{result.config.defaults.threshold:.0%}"
        f" and {result.config.describe_alpha()}, calls ±"
        f"{result.config.defaults.calls_tolerance:.0%}",
        "",
    ]
    if result.protocols is not None:
        base_p, head_p = result.protocols
        lines += [f"measured: base {base_p.describe()} · head {head_p.describe()}", ""]
    if result.protocol_diff:
        lines += [
            "**Measured under different protocols** ("
            + "; ".join(result.protocol_diff)
            + "): how rounds were timed changed, so ratios moved on unchanged code too; the "
            "timing tier gives no verdict (never improved or regressed across protocols). "
            "Measure both sides with one ormbench and the same `ormbench gate-args`.",
            "",
        ]
    if result.off_policy:
        lines += [
            "**Not run as the gate policy says** ("
            + "; ".join(result.off_policy)
            + f"; [run] of {result.config.source}): the threshold was calibrated at the "
            "policy's options, so these verdicts' false-alarm rate is not the calibrated one. "
            "Run each side with `ormbench gate-args`.",
            "",
        ]
    if result.env_changes:
        lines.append("**Environment changed (allowed by --allow-env-change):**")
        lines += [f"- {k}: {a} → {b}" for k, a, b in result.env_changes]
        lines.append("")
    return lines


def _runs(run: Any) -> str:
    n = len(run.paths)
    return f"{n} run" + ("s" if n != 1 else "")


def _presence(result: GateResult) -> list[str]:
    missing = [v for v in result.verdicts if v.outcome is Outcome.MISSING]
    new = [v for v in result.verdicts if v.outcome is Outcome.NEW]
    lines: list[str] = []
    if missing:
        fails = "fails the gate" if result.config.fail_on_missing else "fail_on_missing = false"
        lines.append(
            f"### ⚠ {len(missing)} benchmark(s) of base missing in head ({fails}): not "
            "measured is not the same as unchanged"
        )
        lines += [f"- `{v.name}`" for v in missing] + [""]
    if new:
        lines.append(f"### ⚠ {len(new)} benchmark(s) new in head: no baseline, not gated")
        lines += [f"- `{v.name}`" for v in new] + [""]
    skipped = sorted(set(result.base.skipped) | set(result.head.skipped))
    if skipped:
        lines.append(
            f"{len(skipped)} benchmark(s) without paired samples were not gated: "
            + ", ".join(f"`{s}`" for s in skipped)
        )
        lines.append("")
    return lines


def _findings_table(result: GateResult) -> list[str]:
    # Budgets are listed even when kept: a budget is a standing promise worth seeing.
    rows = [
        (v, f)
        for v in result.verdicts
        for f in v.findings
        if f.tier is not Tier.PRESENCE and f.outcome is not Outcome.UNCHANGED
    ]
    if not rows:
        return ["No benchmark changed in any tier.", ""]
    rows.sort(key=lambda vf: (TIER_ORDER.index(vf[1].tier), not vf[1].fails, vf[0].name))
    lines = [
        "### What changed, by tier",
        "",
        "| tier | benchmark | what | base | head | change | p-value | limit | verdict |",
        "|---|---|---|---:|---:|---:|---:|---|---|",
    ]
    for v, f in rows:
        verdict = f"**{f.outcome}**" if f.fails else str(f.outcome)
        lines.append(
            f"| {f.tier} | `{v.name}` | {f.what} | {_value(f.base)} | {_value(f.head)} | "
            f"{_change(f)} | {_p(f.p_value)} | {f.limit} | {verdict} |"
        )
    return [*lines, ""]


def _value(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        if x.is_integer() and abs(x) >= 100:
            return f"{x:,.0f}"
        return f"{x:.3g}" if abs(x) < 100 else f"{x:,.1f}"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x)


def _change(f: Finding) -> str:
    if f.change is None:
        return "-"
    if f.tier is Tier.EXACT:
        return f"{f.change:+,}"
    if math.isinf(f.change):
        return "+inf"
    return f"{f.change:+.1%}"


def _p(p: float | None) -> str:
    if p is None:
        return "-"
    return f"{p:.1e}" if p < 1e-3 else f"{p:.3f}"


def _plan_diffs(result: GateResult) -> list[str]:
    lines: list[str] = []
    for v in result.verdicts:
        if not v.plan_diff:
            continue
        shown = v.plan_diff[:MAX_PLAN_DIFF_LINES]
        cut = len(v.plan_diff) - len(shown)
        lines += [
            f"<details><summary>plan diff: <code>{v.name}</code></summary>",
            "",
            "```diff",
            *shown,
            *([f"... {cut} more lines"] if cut else []),
            "```",
            "</details>",
            "",
        ]
    return (["### Plan diffs", "", *lines]) if lines else []


def _floors(result: GateResult) -> list[str]:
    if not result.floors:
        return []
    lines = [
        f"### Shared cost moved (the {FLOOR} floor, absolute; informational, never gates)",
        "",
        "Every strategy pays a change of the floor too (server, driver, the connection's JSON "
        "loader), so ratios understate it:",
        "",
    ]
    for fs in result.floors:
        s = fs.shift
        lines.append(
            f"- `{fs.group}`: {s.base_median * 1e3:.3f} ms → {s.head_median * 1e3:.3f} ms "
            f"({s.change:+.1%}, p={_p(min(s.p_greater, s.p_less))})"
        )
    return [*lines, ""]


def _notes(result: GateResult) -> list[str]:
    noted = [(v.name, n) for v in result.verdicts for n in v.notes]
    if not noted:
        return []
    return ["### Notes", "", *(f"- `{name}`: {note}" for name, note in noted), ""]


def _all_timings(result: GateResult) -> list[str]:
    compared = [v for v in result.verdicts if v.timing is not None]
    if not compared:
        return []
    lines = [
        "<details><summary>Every benchmark: ratio to dbapi_fetchall and absolute median</summary>",
        "",
        "| benchmark | verdict | base ratio | head ratio | change | p (head > base) | "
        "base ms | head ms | abs change | rounds |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for v in compared:
        s = v.timing
        assert s is not None and v.base is not None and v.head is not None
        a, b = v.base.time_median_s * 1e3, v.head.time_median_s * 1e3
        tier = f" ({v.tier})" if v.tier else ""
        lines.append(
            f"| `{v.name}` | {v.outcome}{tier} | {s.base_median:.3f} | {s.head_median:.3f} | "
            f"{s.change:+.1%} | {_p(s.p_greater)} | {a:.3f} | {b:.3f} | {b / a - 1:+.1%} | "
            f"{s.n_base}/{s.n_head} |"
        )
    return [*lines, "", "</details>", ""]


def failing_names(result: GateResult, tier: Tier | None = None) -> list[str]:
    """Names of failing benchmarks (of one tier), e.g. for tests and CI messages."""
    return [v.name for v in result.failures if tier is None or _fails_in(v, tier)]


def _fails_in(v: Verdict, tier: Tier) -> bool:
    return any(f.fails and f.tier is tier for f in v.findings)


def names_by_tier(result: GateResult) -> dict[str, list[str]]:
    """Failing benchmark names grouped by the tier that failed them."""
    out: dict[str, list[str]] = {}
    for tier in TIER_ORDER:
        names = failing_names(result, tier)
        if names:
            out[str(tier)] = names
    return out


def as_json(result: GateResult) -> dict[str, Any]:
    """The verdicts as data (``ormbench gate --json``): stable keys for scripts and tests."""

    def finding(f: Finding) -> dict[str, Any]:
        return {
            "tier": str(f.tier),
            "what": f.what,
            "base": f.base,
            "head": f.head,
            "change": f.change,
            "p_value": f.p_value,
            "limit": f.limit,
            "outcome": str(f.outcome),
            "fails": f.fails,
        }

    return {
        "decision": str(result.decision),
        "passed": result.passed,
        "counts": result.counts(),
        "undecided": {
            v.name: {"reason": v.undecided, "resolvable": v.resolvable} for v in result.undecided
        },
        "failing": names_by_tier(result),
        "env_changes": [list(d) for d in result.env_changes],
        "protocol_diff": result.protocol_diff,
        "off_policy": result.off_policy,
        "verdicts": [
            {
                "name": v.name,
                "group": v.group,
                "tier": None if v.tier is None else str(v.tier),
                "outcome": str(v.outcome),
                "fails": v.fails,
                "findings": [finding(f) for f in v.findings],
                "plan_diff": v.plan_diff,
                "notes": v.notes,
                "undecided": v.undecided,
                "resolvable": v.resolvable,
            }
            for v in result.verdicts
        ],
    }


__all__ = ["MAX_PLAN_DIFF_LINES", "as_json", "failing_names", "names_by_tier", "render"]
