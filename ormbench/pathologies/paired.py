"""Bad against fixed, interleaved: the pairing behind every pathology ratio.

Each timed round of one variant is paired with an execution of the other variant right before
it, timed too, outside the benchmark's timed region (``benchmark.pedantic(setup=...)``), as
``ormbench.measure.paired`` pairs a strategy with the floor. The per-round ratio bad / fixed
cancels the machine's drift; its median and 95% interval are the figures reported. Both
variants are benchmarked this way (bad timed with fixed paired, then fixed timed with bad
paired), so pytest-benchmark's table shows the two side by side in one group.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ormbench.measure.capture import Capture
from ormbench.measure.observe import Subject, observe, once_s, paired_rounds, timed, warm
from ormbench.measure.settle import SETTLE_S, settle
from ormbench.measure.stats import median_ci
from ormbench.pathologies.base import VARIANTS, Pathology
from ormbench.pathologies.connection import VariantRun, check_generic_ran, generic_plans
from ormbench.query.spec import Page

# Seconds of paired executions one benchmark aims for.
PAIR_BUDGET_S = 8.0
# Bounds on pairs: 7 is the fewest with a 95% interval inside the range of the samples; the
# ceiling keeps fast pathologies from spending minutes on needless precision.
MIN_PAIRS = 7
MAX_PAIRS = 60


def other(which: str) -> str:
    """The other variant's name."""
    return VARIANTS[1 - VARIANTS.index(which)]


@dataclass
class Pair:
    """Both variants of a pathology, open, checked and sized for interleaved rounds."""

    pathology: Pathology
    runs: dict[str, VariantRun]
    pages: dict[str, Page]
    captures: dict[str, Capture]
    calls: dict[str, int]
    plans: dict[str, list[dict[str, Any]]]
    once: dict[str, float]
    rounds: int
    # Plan mode of each captured statement, per variant (Observed.plan_modes).
    plan_modes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    partner_times: dict[str, list[float]] = field(default_factory=dict)
    # Seconds of idle before each timed execution, the target's and its partner's (SETTLE_S).
    settle_s: float = SETTLE_S

    def target(self, which: str) -> Callable[[], Page]:
        """The timed function of ``which``'s benchmark."""
        return self.runs[which].run

    def partner(self, which: str) -> Callable[[], None]:
        """Pedantic's setup for ``which``'s benchmark: the other variant, settled and timed,
        its page freed after the clock; then the target's settle (as the strategy matrix
        pairs a strategy with the floor)."""
        run = self.runs[other(which)].run
        times = self.partner_times.setdefault(which, [])

        def setup() -> None:
            timed(run, times, self.settle_s)
            settle(self.settle_s)

        return setup

    def generic_counts(self) -> dict[str, int]:
        """Generic plans run so far by each variant that expects one (its primed trap)."""
        return {
            which: generic_plans(run.engine)
            for which, run in self.runs.items()
            if run.variant.connection.expect_generic
        }

    def check_trap(self, before: dict[str, int], executions: int) -> None:
        """Raise ``TrapNotArmed`` unless each variant that expects a generic plan ran one in
        each of its ``executions`` since ``before`` (``generic_counts``): the timed rounds
        measured the trap, not a connection that lost it."""
        for which, count in before.items():
            label = f"pathology {self.pathology.name}, {which}"
            check_generic_ran(self.runs[which].engine, count, executions, label)

    def extra_info(self, which: str, round_times: list[float]) -> dict[str, Any]:
        """Figures saved with ``which``'s benchmark: bad/fixed ratio, both medians, evidence."""
        partner = self.partner_times.get(which, [])[-len(round_times) :]
        bad, fixed = (round_times, partner) if which == "bad" else (partner, round_times)
        ratios = [b / f for b, f in zip(bad, fixed, strict=True) if f > 0]
        run, cap = self.runs[which], self.captures[which]
        rows = len(self.pages[which])
        return {
            "pathology": self.pathology.name,
            "number": self.pathology.number,
            "variant": which,
            "label": run.variant.label,
            "request": run.req.to_query(),
            "rows": rows,
            "statements": cap.count,
            "rows_fetched": cap.rows_fetched,
            "fetch_ratio": (cap.rows_fetched / rows) if rows else None,
            "calls": self.calls[which],
            "plans": self.plans[which],
            "plan_modes": self.plan_modes.get(which, []),
            "bad_median_ms": statistics.median(bad) * 1e3,
            "fixed_median_ms": statistics.median(fixed) * 1e3,
            "ratio": median_ci(ratios).as_dict(),
            "ratio_samples": ratios,
            "bad_samples": bad,
            "fixed_samples": fixed,
            "sql": [s.sql for s in cap.statements],
        }


def prepare_pair(
    pathology: Pathology, runs: dict[str, VariantRun], *, settle_s: float = SETTLE_S
) -> Pair:
    """Warm both variants, check they return the same rows, size the rounds, and record each
    variant's statements, plan shapes and Python call count (the gate's exact and
    near-deterministic tiers read them as they read the strategy matrix's)."""
    pages = dict(zip(VARIANTS, warm(*(runs[which].run for which in VARIANTS)), strict=True))
    if pathology.same_rows:
        # Totals are not compared: a capped count differs from the exact one on purpose.
        pages["bad"].check(
            pages["fixed"],
            f"pathology {pathology.name}: bad and fixed return different rows, so their "
            "timings do not compare",
            shared=True,
            total=False,
        )
    captures: dict[str, Capture] = {}
    calls: dict[str, int] = {}
    plans: dict[str, list[dict[str, Any]]] = {}
    modes: dict[str, list[dict[str, Any]]] = {}
    once: dict[str, float] = {}
    for which in VARIANTS:
        run = runs[which]
        seen = observe(Subject(which, run.variant.label, run.run, run.engine), memory=False)
        captures[which], plans[which], calls[which] = seen.capture, seen.plans, seen.calls
        modes[which] = seen.plan_modes
        once[which] = once_s(run.run)
    rounds = paired_rounds(
        PAIR_BUDGET_S, once["bad"] + once["fixed"], settle_s, MIN_PAIRS, MAX_PAIRS
    )
    return Pair(
        pathology, runs, pages, captures, calls, plans, once, rounds, modes, settle_s=settle_s
    )


__all__ = [
    "MAX_PAIRS",
    "MIN_PAIRS",
    "PAIR_BUDGET_S",
    "Pair",
    "other",
    "prepare_pair",
]
