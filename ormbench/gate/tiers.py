"""The gate's verdicts: tier by tier, stopping at the first tier that gives one.

For every benchmark present on both sides:

1. **exact** - statements sent, rows fetched, rows returned and plan shapes must be equal.
   More statements or rows fetched, another page, or another plan is a regression; fewer
   statements or rows fetched (and nothing else changed for the worse) is an improvement.
2. **calls** (near-deterministic) - Python calls per warm execution (cProfile) within
   ``calls_tolerance`` of base; beyond it, more calls is a regression, fewer an improvement.
3. **timing** - the paired ratio-to-``dbapi_fetchall`` samples: a regression when the median
   rose more than ``threshold`` AND a one-sided Mann-Whitney U test gives p < ``alpha``.
   Absolute times are reported beside, never gating alone. The floor itself has no timing
   verdict (its ratio to itself is 1 by construction); its absolute shift is reported.

A benchmark of base missing from head is a failure of its own (``fail_on_missing``), never a
silent skip; one new in head is listed as not gated. Budgets (absolute, on head's median) are
checked for every benchmark that has one, whatever the tiers said.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from ormbench.errors import EXIT_INCONCLUSIVE, EXIT_REGRESSION
from ormbench.gate.comparable import check_comparable, check_distinct, ormbench_versions
from ormbench.gate.config import GateConfig, Thresholds
from ormbench.gate.protocol import Protocol, departures, differences, of_run
from ormbench.gate.runs import Bench, Run
from ormbench.gate.stats import Shift, Timing, matched_logs, shift
from ormbench.measure.paired import FLOOR


class Tier(StrEnum):
    """Where a finding comes from, in the order the gate checks."""

    PRESENCE = "presence"
    EXACT = "exact"
    CALLS = "calls"
    TIMING = "timing"
    BUDGET = "budget"


class Outcome(StrEnum):
    """What a finding (or a benchmark's verdict) says."""

    REGRESSION = "regression"
    IMPROVEMENT = "improvement"
    UNCHANGED = "unchanged"
    NO_VERDICT = "no verdict"
    MISSING = "missing in head"
    NEW = "new in head"
    OVER_BUDGET = "over budget"
    WITHIN_BUDGET = "within budget"


@dataclass(frozen=True)
class Finding:
    """One checked quantity of one benchmark."""

    tier: Tier
    what: str
    base: Any
    head: Any
    outcome: Outcome
    change: float | None = None  # relative (timing, calls, budget) or absolute (exact counts)
    p_value: float | None = None
    limit: str = ""  # the threshold, tolerance or budget that applied, as shown
    fails: bool = False


@dataclass
class Verdict:
    """Everything the gate concluded about one benchmark."""

    name: str
    group: str | None
    tier: Tier | None
    outcome: Outcome
    findings: list[Finding] = field(default_factory=list)
    timing: Shift | None = None
    samples: Timing | None = None
    base: Bench | None = None
    head: Bench | None = None
    plan_diff: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Why no tier could decide (outcome NO_VERDICT), and the smallest relative change of the
    # median ratio its rounds could have told from noise (None: not estimable, e.g. too few).
    undecided: str = ""
    resolvable: float | None = None
    # Why base and head were not measured alike (the timing tier then gives no verdict).
    protocol_diff: list[str] = field(default_factory=list)

    @property
    def fails(self) -> bool:
        return any(f.fails for f in self.findings)

    @property
    def compared(self) -> bool:
        """Present on both sides, so gated (missing and new benchmarks are not)."""
        return self.base is not None and self.head is not None


class Decision(StrEnum):
    """The gate's overall answer."""

    PASS = "PASS"  # every gated benchmark decided at some tier, none regressed
    FAIL = "FAIL"  # something failed: a regression, a missing benchmark, a budget
    INCONCLUSIVE = "INCONCLUSIVE"  # nothing failed, but not every benchmark was decided


# Exit code of each decision (README, docs/gate.md): a regression and an undecided gate differ.
EXIT_CODES = {
    Decision.PASS: 0,
    Decision.FAIL: EXIT_REGRESSION,
    Decision.INCONCLUSIVE: EXIT_INCONCLUSIVE,
}


@dataclass(frozen=True)
class FloorShift:
    """The floor's absolute time in one group moved: a cost every strategy shares."""

    group: str
    shift: Shift


@dataclass
class GateResult:
    """The verdicts of one comparison, and what the report needs besides."""

    base: Run
    head: Run
    config: GateConfig
    verdicts: list[Verdict]
    env_changes: list[tuple[str, str, str]]
    floors: list[FloorShift] = field(default_factory=list)
    budgets_only: bool = False
    protocols: tuple[Protocol, Protocol] | None = None
    protocol_diff: list[str] = field(default_factory=list)
    # Where the sides' options depart from the gate policy ([run] of the config).
    off_policy: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.fails]

    @property
    def undecided(self) -> list[Verdict]:
        """Gated benchmarks that no tier could decide."""
        return [v for v in self.verdicts if v.compared and v.outcome is Outcome.NO_VERDICT]

    @property
    def decision(self) -> Decision:
        """FAIL on any failure; PASS only when every gated benchmark was decided."""
        if self.failures:
            return Decision.FAIL
        if self.budgets_only:
            return Decision.PASS if self.verdicts else Decision.INCONCLUSIVE
        if self.undecided or not any(v.compared for v in self.verdicts):
            return Decision.INCONCLUSIVE
        return Decision.PASS

    @property
    def passed(self) -> bool:
        return self.decision is Decision.PASS

    @property
    def exit_code(self) -> int:
        """0 pass, 1 regression (or any failure), 5 inconclusive; 4 is raised before a result."""
        return EXIT_CODES[self.decision]

    def counts(self) -> dict[str, int]:
        """Gated benchmarks by verdict: judged (= unchanged + improved + regressed), undecided."""
        compared = [v for v in self.verdicts if v.compared]
        out = {
            "unchanged": sum(v.outcome is Outcome.UNCHANGED for v in compared),
            "improved": sum(v.outcome is Outcome.IMPROVEMENT for v in compared),
            "regressed": sum(v.outcome is Outcome.REGRESSION for v in compared),
            "undecided": sum(v.outcome is Outcome.NO_VERDICT for v in compared),
        }
        return {"judged": out["unchanged"] + out["improved"] + out["regressed"], **out}

    @property
    def ormbench_versions(self) -> tuple[str, str]:
        return ormbench_versions(self.base, self.head)


def compare(
    base: Run, head: Run, config: GateConfig, *, allow_env_change: bool = False
) -> GateResult:
    """Compare two sides; refuse (UnusableInputError) when they are one run or not comparable."""
    env_changes = check_comparable(base, head, allow_env_change=allow_env_change)
    check_distinct(base, head)
    protocols = of_run(base), of_run(head)
    protocol_diff = differences(*protocols)
    # Rounds are matched only when both sides say they took turns with each other.
    turns = all(p.turns for p in protocols)
    verdicts: list[Verdict] = []
    for name, b in base.benchmarks.items():
        h = head.benchmarks.get(name)
        if h is None:
            finding = Finding(
                Tier.PRESENCE,
                "benchmark",
                "present",
                "absent",
                Outcome.MISSING,
                fails=config.fail_on_missing,
            )
            missing = Verdict(name, b.group, Tier.PRESENCE, Outcome.MISSING, [finding], base=b)
            verdicts.append(missing)
            continue
        # The look: how many runs of each side measured it (further looks measure only the
        # undecided benchmarks); each look has its share of alpha (docs/gate.md).
        limits = config.at_look(name, b.group, max(b.runs, h.runs))
        verdicts.append(judge(b, h, limits, protocol_diff, turns=turns))
    for name, h in head.benchmarks.items():
        if name not in base.benchmarks:
            finding = Finding(Tier.PRESENCE, "benchmark", "absent", "present", Outcome.NEW)
            verdicts.append(Verdict(name, h.group, Tier.PRESENCE, Outcome.NEW, [finding], head=h))
    for verdict in verdicts:
        if verdict.head is not None:
            verdict.findings.extend(check_budgets(verdict.head, verdict.base, config))
    # Across protocols the floor's own time moved with the harness: not a shared cost.
    floors = [] if protocol_diff else floor_shifts(base, head, config)
    off_policy = [
        note
        for side, p in zip(("base", "head"), protocols, strict=True)
        for note in departures(side, p, config.run)
    ]
    return GateResult(
        base,
        head,
        config,
        verdicts,
        env_changes,
        floors,
        False,
        protocols,
        protocol_diff,
        off_policy,
    )


def budgets_only(run: Run, config: GateConfig) -> GateResult:
    """One run's budgets, without a base (the scheduled run on a big dataset has none)."""
    verdicts = []
    for name, bench in run.benchmarks.items():
        findings = check_budgets(bench, None, config)
        if findings:
            outcome = (
                Outcome.OVER_BUDGET
                if any(f.outcome is Outcome.OVER_BUDGET for f in findings)
                else Outcome.WITHIN_BUDGET
            )
            verdicts.append(Verdict(name, bench.group, Tier.BUDGET, outcome, findings, head=bench))
    return GateResult(run, run, config, verdicts, [], budgets_only=True)


def timing_of(base: Bench, head: Bench, *, turns: bool) -> Timing:
    """What the timing tier judges (``Timing``): the ratios to the floor by CPU time when both
    sides have it for every round, with the wall clock's beside them, else by the wall clock;
    rounds matched when the sides took turns."""
    wall = _timing_by("wall", base, head, turns)
    if base.cpu_ratio_samples and head.cpu_ratio_samples:
        return replace(_timing_by("cpu", base, head, turns), wall=wall)
    return wall


def _timing_by(metric: str, base: Bench, head: Bench, turns: bool) -> Timing:
    b, h = base.ratio_of(metric), head.ratio_of(metric)
    logs = matched_logs(b, h, base.run_rounds, head.run_rounds) if turns else None
    return Timing(metric, b, h, logs)


def judge(
    base: Bench,
    head: Bench,
    limits: Thresholds,
    protocol_diff: Sequence[str] = (),
    *,
    turns: bool = False,
) -> Verdict:
    """One benchmark through the tiers; the first tier with a finding gives the verdict.

    ``protocol_diff``: how base and head were measured differently; the timing tier then
    gives no verdict (exact and calls tiers do not depend on how rounds are timed).
    ``turns``: both sides took turns round by round, so their rounds are matched.
    """
    verdict = Verdict(base.name, base.group, None, Outcome.UNCHANGED, base=base, head=head)
    verdict.protocol_diff = list(protocol_diff)
    verdict.notes.extend(f"base: {n}" for n in base.notes)
    verdict.notes.extend(f"head: {n}" for n in head.notes)
    if len(base.ratio_samples) >= 2 and len(head.ratio_samples) >= 2:
        verdict.samples = timing_of(base, head, turns=turns)
        verdict.timing = verdict.samples.shift(limits.process_tolerance)
    for tier, check in ((Tier.EXACT, _exact), (Tier.CALLS, _calls), (Tier.TIMING, _timing)):
        findings = check(base, head, limits, verdict)
        if findings:
            verdict.findings = findings
            verdict.tier = tier
            verdict.outcome = (
                Outcome.REGRESSION
                if any(f.outcome is Outcome.REGRESSION for f in findings)
                else findings[0].outcome
            )
            break
    return verdict


def _exact(base: Bench, head: Bench, limits: Thresholds, verdict: Verdict) -> list[Finding]:
    out: list[Finding] = []
    for what, a, b in (
        ("statements", base.statements, head.statements),
        ("rows fetched", base.rows_fetched, head.rows_fetched),
    ):
        if a != b:
            outcome = Outcome.REGRESSION if b > a else Outcome.IMPROVEMENT
            fails = outcome is Outcome.REGRESSION
            out.append(Finding(Tier.EXACT, what, a, b, outcome, b - a, fails=fails))
    if base.rows is not None and head.rows is not None and base.rows != head.rows:
        # Another page than base's: whatever the timing says, it measures something else.
        out.append(
            Finding(
                Tier.EXACT,
                "rows returned",
                base.rows,
                head.rows,
                Outcome.REGRESSION,
                head.rows - base.rows,
                fails=True,
            )
        )
    if base.plans is not None and head.plans is not None:
        if _canonical(base.plans) != _canonical(head.plans):
            verdict.plan_diff = plan_diff(base.plans, head.plans)
            out.append(
                Finding(
                    Tier.EXACT,
                    "plan shape",
                    f"{len(base.plans)} plan(s)",
                    f"{len(head.plans)} plan(s)",
                    Outcome.REGRESSION,
                    fails=True,
                )
            )
    elif (base.plans is None) != (head.plans is None):
        side = "base" if base.plans is None else "head"
        verdict.notes.append(f"plan shapes not compared: {side} did not record them")
    return out


def _canonical(plans: Sequence[Any]) -> str:
    return json.dumps(list(plans), sort_keys=True)


def plan_diff(base: Sequence[Any], head: Sequence[Any]) -> list[str]:
    """What changed between two lists of plan shapes: named node changes, then a text diff."""
    import difflib

    names, base_lines, head_lines = [], [], []
    render, diff_shapes = _plan_tools()
    for n in range(max(len(base), len(head))):
        a = base[n] if n < len(base) else None
        b = head[n] if n < len(head) else None
        if render is not None and diff_shapes is not None and a is not None and b is not None:
            # A shape format this version cannot read: the text diff below still shows it.
            with contextlib.suppress(KeyError, TypeError, AttributeError):
                names.extend(f"statement {n + 1}: {line}" for line in diff_shapes(a, b))
        base_lines.extend(_render(a, n, render))
        head_lines.extend(_render(b, n, render))
    text = difflib.unified_diff(base_lines, head_lines, "base", "head", lineterm="", n=2)
    return names + list(text)


def _render(plan: Any, n: int, render: Any) -> list[str]:
    if plan is None:
        return [f"-- statement {n + 1}: (no statement)"]
    lines = [f"-- statement {n + 1}"]
    if render is not None:
        try:
            return lines + render(plan)
        except (KeyError, TypeError, AttributeError):
            pass
    return lines + json.dumps(plan, indent=1, sort_keys=True).splitlines()


@functools.cache
def _plan_tools() -> tuple[Any, Any]:
    """Renderers of ``ormbench.measure.plans`` for saved shapes, when that module exists."""
    try:
        from ormbench.measure.plans import PlanNode, diff_shapes, render_shape
    except ImportError:
        return None, None

    def render(plan: Any) -> list[str]:
        return render_shape(PlanNode.from_dict(plan))

    def diff(a: Any, b: Any) -> list[str]:
        return diff_shapes(PlanNode.from_dict(a), PlanNode.from_dict(b))

    return render, diff


def _calls(base: Bench, head: Bench, limits: Thresholds, verdict: Verdict) -> list[Finding]:
    if base.calls <= 0:
        return []
    change = head.calls / base.calls - 1
    if abs(change) <= limits.calls_tolerance:
        return []
    outcome = Outcome.REGRESSION if change > 0 else Outcome.IMPROVEMENT
    return [
        Finding(
            Tier.CALLS,
            "Python calls",
            base.calls,
            head.calls,
            outcome,
            change,
            limit=f"±{limits.calls_tolerance:.0%}",
            fails=outcome is Outcome.REGRESSION,
        )
    ]


def _timing(base: Bench, head: Bench, limits: Thresholds, verdict: Verdict) -> list[Finding]:
    if base.strategy == FLOOR:
        # The floor's ratio to itself is 1 by construction: its drift is pairing noise, and
        # its own time moving is a shared cost, reported as such (floor_shifts), never gated.
        return []
    limit = f">{limits.threshold:.0%}, p<{limits.alpha:g}"
    s, samples = verdict.timing, verdict.samples
    what = samples.what if samples is not None else "ratio to dbapi"
    if verdict.protocol_diff:
        # Never "improved" or "regressed" across protocols: the harness moved every ratio.
        verdict.undecided = (
            f"measured under different protocols ({'; '.join(verdict.protocol_diff)}): "
            "ratios are not comparable; measure both sides with one ormbench and "
            "`ormbench gate-args`"
        )
        return [
            Finding(
                Tier.TIMING,
                "ratio to dbapi (other protocol)",
                None if s is None else s.base_median,
                None if s is None else s.head_median,
                Outcome.NO_VERDICT,
                None if s is None else s.change,
                limit=limit,
            )
        ]
    if samples is None or samples.n < limits.min_samples:
        n = 0 if samples is None else samples.n
        verdict.undecided = f"{n} paired rounds, fewer than min_samples={limits.min_samples}"
        verdict.notes.append(f"timing not judged: {verdict.undecided}")
        return [Finding(Tier.TIMING, "ratio", None, None, Outcome.NO_VERDICT, limit=limit)]
    assert s is not None  # computed in judge() with the samples
    outcome, s = _decide(samples, limits)
    # The shift that decided: CPU time's, or the wall clock's when only it regressed.
    what = samples.what if s.metric == samples.metric or samples.wall is None else samples.wall.what
    if outcome is Outcome.UNCHANGED:
        blur = samples.resolution()
        if blur <= limits.threshold and abs(s.change) + blur <= EXCLUDED * limits.threshold:
            return []
        # Quiet, but only because the rounds are too noisy to see a change of the threshold's
        # size: say so rather than let "unchanged" vouch for it.
        verdict.resolvable = blur
        verdict.undecided = (
            f"too noisy: its rounds resolve changes beyond ±{blur:.1%} only (threshold "
            f"{limits.threshold:.0%}; median {s.change:+.1%}; {s.metric} time)"
        )
        verdict.notes.append(
            f"timing too noisy to judge: changes within ±{blur:.0%} cannot be told from noise "
            f"(threshold {limits.threshold:.0%}); rerun on a quieter machine"
        )
        return [
            Finding(
                Tier.TIMING,
                f"{what} (too noisy)",
                s.base_median,
                s.head_median,
                Outcome.NO_VERDICT,
                s.change,
                s.p_greater,
                limit,
            )
        ]
    p = s.p_greater if outcome is Outcome.REGRESSION else s.p_less
    primary, wall_alpha = alphas(samples, limits.alpha)
    decided_by_wall = samples.wall is not None and s.metric == "wall"
    limit = f">{limits.threshold:.0%}, p<{wall_alpha if decided_by_wall else primary:g}"
    return [
        Finding(
            Tier.TIMING,
            what,
            s.base_median,
            s.head_median,
            outcome,
            s.change,
            p,
            limit,
            fails=outcome is Outcome.REGRESSION,
        )
    ]


# "Unchanged" needs the change's 95% interval to exclude a change this many times the
# threshold (and to be no wider than the threshold either way): a +3% reading that could
# still be +11% is measured again, not passed. A regression of twice the threshold is what
# the gate is calibrated to catch (a 10% CPU regression, docs/gate.md).
EXCLUDED = 2.0


# Share of alpha the wall clock's regression test gets beside CPU time's (Bonferroni: the two
# shares sum to alpha). The wall test is a net for regressions that wait without spending CPU,
# which are large where they happen (a sleep, a lock, a network round trip): a small share
# finds them and leaves CPU time, which judges everything else, most of the power.
WALL_ALPHA_SHARE = 0.2


def alphas(samples: Timing, alpha: float) -> tuple[float, float]:
    """The levels of the primary test and of the wall clock's beside CPU time (0: none)."""
    if samples.wall is None:
        return alpha, 0.0
    return alpha * (1 - WALL_ALPHA_SHARE), alpha * WALL_ALPHA_SHARE


def _decide(samples: Timing, limits: Thresholds) -> tuple[Outcome, Shift]:
    """Regression or improvement when the change passes the threshold and its test beyond
    the process tolerance; else unchanged (whether the rounds could see the threshold is the
    caller's question). With CPU time, its wall clock is tested for a regression too, the
    two tests sharing the alpha (``alphas``); the shift returned is the one that decided."""
    alpha, wall_alpha = alphas(samples, limits.alpha)
    s = samples.shift(limits.process_tolerance)
    if s.change > limits.threshold and s.p_greater < alpha:
        return Outcome.REGRESSION, s
    if samples.wall is not None:
        w = samples.wall.shift(limits.process_tolerance)
        if w.change > limits.threshold and w.p_greater < wall_alpha:
            return Outcome.REGRESSION, w
    if s.change < -limits.threshold and s.p_less < alpha:
        return Outcome.IMPROVEMENT, s
    return Outcome.UNCHANGED, s


def timing_verdict(samples: Timing, limits: Thresholds) -> Outcome:
    """The timing tier alone on one benchmark's samples (calibration runs it thousands of
    times): the same rule as ``judge``, without the too-noisy check."""
    if samples.n < limits.min_samples:
        return Outcome.NO_VERDICT
    return _decide(samples, limits)[0]


def dataset_names(bench: Bench) -> list[str]:
    """The benchmark's dataset as budgets may name it: fingerprint hash and profile name."""
    names = [n for n in (bench.dataset, bench.extra.get("dataset_profile")) if n]
    if bench.dataset:
        names.extend(_profiles_by_hash().get(bench.dataset, ()))
    return names


@functools.cache
def _profiles_by_hash() -> dict[str, tuple[str, ...]]:
    """Fingerprint hash of every named profile with its default knobs -> profile name."""
    try:
        from ormbench.data.profiles import PROFILES
        from ormbench.data.seed import fingerprint, fingerprint_hash
    except ImportError:  # a checkout without the data package: budgets match hashes only
        return {}
    out: dict[str, list[str]] = defaultdict(list)
    for name, profile in PROFILES.items():
        out[fingerprint_hash(fingerprint(profile))].append(name)
    return {k: tuple(v) for k, v in out.items()}


def check_budgets(head: Bench, base: Bench | None, config: GateConfig) -> list[Finding]:
    """Absolute budgets of this benchmark, on head's median time (milliseconds)."""
    out = []
    names = dataset_names(head)
    for budget in config.budgets:
        if not budget.applies(head.name, head.group, names):
            continue
        median_ms = head.time_median_s * 1e3
        over = median_ms > budget.median_ms
        on = f" on {budget.dataset}" if budget.dataset else ""
        out.append(
            Finding(
                Tier.BUDGET,
                "median time (ms)",
                None if base is None else base.time_median_s * 1e3,
                median_ms,
                Outcome.OVER_BUDGET if over else Outcome.WITHIN_BUDGET,
                median_ms / budget.median_ms - 1,
                limit=f"≤{budget.median_ms:g} ms{on}",
                fails=over and budget.fail,
            )
        )
    return out


def floor_shifts(base: Run, head: Run, config: GateConfig) -> list[FloorShift]:
    """Groups whose floor (``dbapi_fetchall`` paired rounds, absolute) moved significantly.

    Informational: a cost every strategy shares (server, driver, the connection's JSON
    loader) moves the floor too, so ratios understate it; absolute times never gate alone.
    """
    pooled: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    for name, b in base.benchmarks.items():
        h = head.benchmarks.get(name)
        if h is None or not b.floor_samples or not h.floor_samples or b.group is None:
            continue
        pooled[b.group][0].extend(b.floor_samples)
        pooled[b.group][1].extend(h.floor_samples)
    out = []
    for group, (a, b) in pooled.items():
        limits = config.for_bench(group, group)
        s = shift(a, b)
        significant = s.p_greater < limits.alpha or s.p_less < limits.alpha
        if abs(s.change) > limits.threshold and significant:
            out.append(FloorShift(group, s))
    return out


__all__ = [
    "FLOOR",
    "Decision",
    "Finding",
    "FloorShift",
    "GateResult",
    "Outcome",
    "Tier",
    "Verdict",
    "budgets_only",
    "check_budgets",
    "compare",
    "dataset_names",
    "judge",
    "plan_diff",
    "timing_of",
    "timing_verdict",
]
