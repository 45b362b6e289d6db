"""Calibration: how often the gate fires on unchanged code, and what it reliably catches.

Input: A/A comparisons, i.e. base and head runs of the *same* code, made the way CI makes
them (same machine, same protocol: single runs, or runs interleaved with ``turns``). Each
comparison is judged exactly as ``ormbench gate`` would judge it:

* **false alarms** - every regression found is a false alarm, per tier and per benchmark;
  the rate is reported with its 95% Clopper-Pearson interval (with 20 comparisons, 0 alarms
  on a benchmark only bounds its own rate below 14%: pool benchmarks for a tighter figure);
* **detection** - head's paired ratio samples are scaled by ``1 + s`` (``stats.scaled``): a
  planted regression of the strategy by ``s`` relative to the floor, carrying the A/A run's
  own noise. The smallest ``s`` detected in 95% of (comparison, benchmark) cases is the
  smallest regression the gate reliably catches;
* **threshold sweep** - false alarms and detection of the planted slowdown for a range of
  thresholds, so that a default can be chosen from measurements, not hope.

Injection models a slowdown proportional to the strategy's time and leaves the tiers before
timing untouched (a pure CPU cost changes neither statements nor Python calls): check it
against real planted runs (``ormbench.gate.plants``) when in doubt.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from scipy.stats import beta

from ormbench.errors import UnusableInputError
from ormbench.gate.config import GateConfig, Thresholds
from ormbench.gate.looks import AIM, rounds_to_resolve
from ormbench.gate.runs import Run, load_run
from ormbench.gate.sides import merge
from ormbench.gate.stats import Timing
from ormbench.gate.tiers import FLOOR, Outcome, Tier, compare, timing_verdict

# Planted slowdowns tried to find the smallest one detected 95% of the time (fractions).
SLOWDOWNS: tuple[float, ...] = tuple(round(0.01 * k, 2) for k in range(1, 41))
# Thresholds of the sweep table (fractions).
SWEEP: tuple[float, ...] = (0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.10, 0.12, 0.15)
# Goals of the issue: at most 1% false alarms per benchmark, 95% detection.
FALSE_ALARM_GOAL = 0.01
DETECTION_GOAL = 0.95
# Share of A/A benchmark comparisons that must reach a verdict at some tier (issue goal).
VERDICT_GOAL = 0.95
# Planted slowdown whose detection rate is reported (the 10%).
DEFAULT_INJECT = 0.10
# What a pair directory records about a plant loaded into its head.
PLANT_FILE = "plant.json"
# A side of a comparison inside a pair directory: a file name containing one of these.
_SIDE = re.compile(r"(base|head)", re.IGNORECASE)


@dataclass(frozen=True)
class Comparison:
    """One A/A comparison: two sides of runs of the same code."""

    label: str
    base: Run
    head: Run
    # A pair whose head loaded a planted regression (``calibrate --run --plant``): the
    # module, the strategy it slows and by how much. None for an A/A pair.
    plant: dict[str, Any] | None = None


@dataclass
class Calibration:
    """What the A/A comparisons showed at the configured thresholds."""

    comparisons: int
    benchmarks: list[str]
    alarms: dict[str, Counter[str]] = field(default_factory=dict)  # tier -> benchmark -> n
    judged: Counter[str] = field(default_factory=Counter)  # benchmark -> comparisons judged
    changes: dict[str, list[float]] = field(default_factory=dict)  # A/A median changes
    detection: dict[float, Counter[str]] = field(default_factory=dict)  # s -> benchmark -> n
    sweep: list[tuple[float, float, float]] = field(default_factory=list)
    inject: float = DEFAULT_INJECT
    # Benchmark comparisons the gate declined as too noisy, and planted slowdowns detected
    # among the (non-floor) comparisons it could judge: (detected, judged).
    too_noisy: Counter[str] = field(default_factory=Counter)
    detected_when_judged: tuple[int, int] = (0, 0)
    # Pairs with a real plant in head: its target benchmarks' comparisons and failures.
    plant: dict[str, Any] | None = None
    planted_cases: Counter[str] = field(default_factory=Counter)
    planted_hits: Counter[str] = field(default_factory=Counter)
    # Per A/A timing comparison (floor aside): the matched rounds it had and the rounds a side
    # it would need for its resolution to reach a further look's aim (``looks.AIM`` x its
    # threshold), an interval narrowing as 1/sqrt(rounds).
    rounds: list[tuple[int, float]] = field(default_factory=list)

    def rounds_needed(self, share: float = VERDICT_GOAL) -> float | None:
        """Rounds a side for ``share`` of the timing comparisons to resolve their aim
        (nearest rank); None without comparisons."""
        needs = sorted(need for _n, need in self.rounds)
        if not needs:
            return None
        return needs[min(len(needs) - 1, max(0, math.ceil(share * len(needs)) - 1))]

    def alarm_rate(self, tier: str | None = None) -> tuple[int, int]:
        """(false alarms, benchmark comparisons) over all benchmarks, of one tier or all."""
        tiers = [tier] if tier else list(self.alarms)
        alarms = sum(sum(self.alarms.get(t, Counter()).values()) for t in tiers)
        return alarms, sum(self.judged.values())

    def detected(self, slowdown: float) -> tuple[int, int]:
        """(detected, cases) for a planted slowdown, over every benchmark but the floor."""
        counts = self.detection.get(slowdown, Counter())
        cases = sum(n for b, n in self.judged.items() if not _is_floor(b))
        return sum(counts.values()), cases

    def smallest_detected(self, goal: float = DETECTION_GOAL) -> float | None:
        """The smallest planted slowdown detected in at least ``goal`` of the cases."""
        for s in sorted(self.detection):
            hit, cases = self.detected(s)
            if cases and hit / cases >= goal:
                return s
        return None

    def smallest_detected_per_bench(self, goal: float = DETECTION_GOAL) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for name in self.benchmarks:
            if _is_floor(name):
                continue
            out[name] = next(
                (
                    s
                    for s in sorted(self.detection)
                    if self.judged[name] and self.detection[s][name] / self.judged[name] >= goal
                ),
                None,
            )
        return out


def _is_floor(name: str) -> bool:
    return name.endswith(f"-{FLOOR}")


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval of a rate of ``k`` events in ``n`` trials."""
    if n == 0:
        return 0.0, 1.0
    a = (1 - confidence) / 2
    low = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    high = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return low, high


def find_comparisons(directory: Path, per_side: int = 1) -> list[Comparison]:
    """A/A comparisons in ``directory``.

    Either one subdirectory per comparison, its files named ``*base*`` and ``*head*`` (what
    ``ormbench calibrate --run`` writes), or a flat directory of runs taken in time order
    and cut into groups of ``2 * per_side``, alternating base, head, base, head, ...
    """
    if not directory.is_dir():
        raise UnusableInputError(f"{directory}: not a directory of A/A runs")
    subdirs = sorted(d for d in directory.iterdir() if d.is_dir() and any(d.glob("*.json")))
    if subdirs:
        return [_pair_dir(d) for d in subdirs]
    runs = sorted((load_run(p) for p in directory.glob("*.json")), key=lambda r: r.datetime)
    group = 2 * per_side
    if len(runs) < group:
        raise UnusableInputError(
            f"{directory}: {len(runs)} run(s), need at least {group} for one A/A comparison; "
            "make them with `ormbench calibrate --run N DIR`"
        )
    out = []
    for start in range(0, len(runs) - group + 1, group):
        chunk = runs[start : start + group]
        out.append(
            Comparison(f"runs {start + 1}-{start + group}", merge(chunk[0::2]), merge(chunk[1::2]))
        )
    return out


def _pair_dir(directory: Path) -> Comparison:
    sides: dict[str, list[Run]] = defaultdict(list)
    for path in sorted(directory.glob("*.json")):
        match = _SIDE.search(path.name)
        if match:
            sides[match.group(1).lower()].append(load_run(path))
    if not sides.get("base") or not sides.get("head"):
        raise UnusableInputError(
            f"{directory}: an A/A comparison needs files named *base*.json and *head*.json"
        )
    plant_file = directory / PLANT_FILE
    plant = json.loads(plant_file.read_text()) if plant_file.exists() else None
    return Comparison(directory.name, merge(sides["base"]), merge(sides["head"]), plant)


def calibrate(
    comparisons: Sequence[Comparison],
    config: GateConfig,
    *,
    inject: float = DEFAULT_INJECT,
    slowdowns: Iterable[float] = SLOWDOWNS,
    sweep: Iterable[float] = SWEEP,
) -> Calibration:
    """Judge every A/A comparison like the gate, then plant slowdowns into each head."""
    if not comparisons:
        raise UnusableInputError("no A/A comparisons to calibrate on")
    names = list(dict.fromkeys(n for c in comparisons for n in c.base.benchmarks))
    result = Calibration(len(comparisons), names, inject=inject)
    result.plant = next((c.plant for c in comparisons if c.plant), None)
    if result.plant is not None:
        planted = dict.fromkeys(c.plant["strategy"] for c in comparisons if c.plant)
        result.plant = {**result.plant, "strategy": ", ".join(planted)}
    slowdowns = sorted({*slowdowns, inject})
    result.detection = {s: Counter() for s in slowdowns}
    pairs: list[tuple[str, Thresholds, Timing]] = []
    for comp in comparisons:
        gate = compare(comp.base, comp.head, config, allow_env_change=True)
        target = comp.plant["strategy"] if comp.plant else None
        for verdict in gate.verdicts:
            if verdict.base is None or verdict.head is None:
                continue
            if target is not None and verdict.name.endswith(f"-{target}"):
                # Really slowed: not an A/A comparison; a failure is a detection.
                result.planted_cases[verdict.name] += 1
                result.planted_hits[verdict.name] += any(
                    f.fails and f.tier is not Tier.BUDGET for f in verdict.findings
                )
                continue
            result.judged[verdict.name] += 1
            for finding in verdict.findings:
                if finding.fails and finding.tier is not Tier.BUDGET:
                    result.alarms.setdefault(str(finding.tier), Counter())[verdict.name] += 1
            if verdict.timing is not None:
                result.changes.setdefault(verdict.name, []).append(verdict.timing.change)
            if verdict.outcome is Outcome.NO_VERDICT:
                result.too_noisy[verdict.name] += 1
            look = max(verdict.base.runs, verdict.head.runs)  # as the gate judged it
            limits = config.at_look(verdict.name, verdict.group, look)
            if verdict.samples is not None:
                pairs.append((verdict.name, limits, verdict.samples))
    hit = judged = 0
    for name, limits, samples in pairs:
        if _is_floor(name):
            continue  # the floor's ratio to itself cannot regress relative to itself
        need = rounds_to_resolve(samples.n, samples.resolution(), AIM * limits.threshold)
        result.rounds.append((samples.n, need))
        for s in slowdowns:
            if timing_verdict(samples.scaled(1 + s), limits) is Outcome.REGRESSION:
                result.detection[s][name] += 1
        planted = samples.scaled(1 + inject)
        if planted.resolution() <= limits.threshold:
            judged += 1
            hit += timing_verdict(planted, limits) is Outcome.REGRESSION
    result.detected_when_judged = (hit, judged)
    for threshold in sweep:
        alarms = detected = cases = judged = 0
        for name, limits, samples in pairs:
            if _is_floor(name):
                continue  # no timing verdict for the floor (tiers._timing)
            at = replace(limits, threshold=threshold)
            judged += 1
            alarms += timing_verdict(samples, at) is Outcome.REGRESSION
            cases += 1
            detected += timing_verdict(samples.scaled(1 + inject), at) is Outcome.REGRESSION
        result.sweep.append((threshold, alarms / max(judged, 1), detected / max(cases, 1)))
    return result


def render(result: Calibration, config: GateConfig) -> str:
    """The calibration as markdown: goals, per-tier alarms, per benchmark, the sweep."""
    d = config.defaults
    alarms, judged = result.alarm_rate()
    low, high = clopper_pearson(alarms, judged)
    hit, cases = result.detected(result.inject)
    smallest = result.smallest_detected()
    lines = [
        f"## ormbench calibrate: {result.comparisons} A/A comparisons, "
        f"{len(result.benchmarks)} benchmarks",
        "",
        f"limits: {config.source}; timing >{d.threshold:.0%} and {config.describe_alpha()}, calls "
        f"±{d.calls_tolerance:.0%}",
        "",
        f"- false alarms, all tiers: **{alarms} of {judged}** benchmark comparisons = "
        f"{_pct(alarms, judged)} (95% CI {low:.2%}-{high:.2%}); goal ≤ {FALSE_ALARM_GOAL:.0%}",
    ]
    for tier in (Tier.EXACT, Tier.CALLS, Tier.TIMING):
        k, n = result.alarm_rate(str(tier))
        lines.append(f"  - {tier}: {k} ({_pct(k, n)})")
    noisy = sum(result.too_noisy.values())
    when_hit, when_judged = result.detected_when_judged
    lines += [
        f"- reached a verdict: **{judged - noisy} of {judged}** = {_pct(judged - noisy, judged)}"
        f"; goal ≥ {VERDICT_GOAL:.0%}",
        f"- timing judged too noisy (no verdict): {noisy} of {judged} = {_pct(noisy, judged)}",
        f"- planted {result.inject:.0%} slowdown detected: **{hit} of {cases}** = "
        f"{_pct(hit, cases)}; goal ≥ {DETECTION_GOAL:.0%}",
        f"  - where the rounds could resolve the threshold: {when_hit} of {when_judged} = "
        f"{_pct(when_hit, when_judged)}",
        *_rounds_lines(result, config),
        "- smallest planted slowdown detected in ≥95% of cases: "
        + (f"**{smallest:.0%}**" if smallest is not None else "none up to 40%"),
        *_real_plant_lines(result),
        "",
        "Planted slowdowns scale head's paired ratio samples (docs/gate.md, Calibration).",
        "",
        "### Per benchmark",
        "",
        "| benchmark | A/A false alarms | A/A median change: min / median / max | "
        "smallest detected 95% |",
        "|---|---:|---|---:|",
    ]
    per_bench = result.smallest_detected_per_bench()
    for name in result.benchmarks:
        k = sum(c[name] for c in result.alarms.values())
        changes = sorted(result.changes.get(name, []))
        spread = (
            f"{changes[0]:+.1%} / {changes[len(changes) // 2]:+.1%} / {changes[-1]:+.1%}"
            if changes
            else "-"
        )
        small = per_bench.get(name)
        shown = "floor" if _is_floor(name) else (f"{small:.0%}" if small is not None else ">40%")
        lines.append(f"| `{name}` | {k}/{result.judged[name]} | {spread} | {shown} |")
    lines += [
        "",
        "### Threshold sweep (timing tier only, each comparison at its look's alpha)",
        "",
        f"| threshold | A/A false alarms | planted {result.inject:.0%} detected |",
        "|---:|---:|---:|",
    ]
    lines += [f"| {t:.0%} | {fa:.2%} | {det:.1%} |" for t, fa, det in result.sweep]
    return "\n".join(lines) + "\n"


def _rounds_lines(result: Calibration, config: GateConfig) -> list[str]:
    need = result.rounds_needed()
    if need is None:
        return []
    had = sorted(n for n, _need in result.rounds)[len(result.rounds) // 2]
    aim = AIM * config.defaults.threshold
    return [
        f"  - rounds a side for {VERDICT_GOAL:.0%} of the timing comparisons to resolve "
        f"±{aim:.0%} (their resolution scaled as 1/√rounds): **{need:,.0f}** (median had "
        f"{had:,})"
    ]


def _real_plant_lines(result: Calibration) -> list[str]:
    plant = result.plant
    if not result.planted_cases or plant is None:
        return []
    hits, cases = sum(result.planted_hits.values()), sum(result.planted_cases.values())
    low, high = clopper_pearson(hits, cases)
    per = ", ".join(
        f"`{name}` {result.planted_hits[name]}/{n}" for name, n in result.planted_cases.items()
    )
    return [
        f"- real plant in head (`{plant['module']}`: {plant['strategy']}, one per pair, "
        f"{plant['cost']:.0%} slower): failed the gate in **{hits} of {cases}** = "
        f"{_pct(hits, cases)} (95% CI {low:.2%}-{high:.2%}); goal ≥ {DETECTION_GOAL:.0%}",
        f"  - per benchmark: {per}",
        "  - every other benchmark above is an A/A comparison of those pairs",
    ]


def _pct(k: int, n: int) -> str:
    return f"{k / n:.2%}" if n else "-"


__all__ = [
    "DEFAULT_INJECT",
    "DETECTION_GOAL",
    "FALSE_ALARM_GOAL",
    "SLOWDOWNS",
    "SWEEP",
    "Calibration",
    "Comparison",
    "calibrate",
    "clopper_pearson",
    "find_comparisons",
    "render",
]
