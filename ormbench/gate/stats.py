"""The timing tier's statistics: the shift of the median ratio and a Mann-Whitney U test.

A timing regression needs two things (asv's rule): the median of head's paired ratios rose
by more than the threshold, AND a one-sided Mann-Whitney U test on the raw per-round ratios
says head's rounds are larger than base's. The size criterion keeps a tiny but significant
shift (thousands of rounds make anything significant) from failing a build; the test keeps a
large but noisy shift (a handful of wild rounds) from doing so.

The rounds of one run are not fully independent (a process carries its own memory layout and
its own luck with the machine), so the U test's p-value is optimistic when each side is one
run; the threshold, calibrated from A/A runs, is what holds the false-alarm rate down
(docs/gate.md, "Calibration").
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from scipy.stats import mannwhitneyu, wilcoxon

from ormbench.measure.stats import median_ci


@dataclass(frozen=True)
class Shift:
    """How head's samples moved from base's."""

    base_median: float
    head_median: float
    p_greater: float  # one-sided p that head's values are larger
    p_less: float  # one-sided p that head's values are smaller
    n_base: int
    n_head: int
    # Rounds that took turns: the median of head's ratio over base's in the same round
    # (``Timing``); None: the ratio of the two medians.
    paired_change: float | None = None
    metric: str = "wall"

    @property
    def change(self) -> float:
        """Relative change of the median, head over base minus one."""
        if self.paired_change is not None:
            return self.paired_change
        if self.base_median == 0:
            return math.inf if self.head_median > 0 else 0.0
        return self.head_median / self.base_median - 1


def shift(base: Sequence[float], head: Sequence[float]) -> Shift:
    """Medians of both samples and the one-sided U tests in either direction."""
    if not base or not head:
        raise ValueError("both samples need at least one value")
    return Shift(
        base_median=statistics.median(base),
        head_median=statistics.median(head),
        p_greater=one_sided_p(base, head, "greater"),
        p_less=one_sided_p(base, head, "less"),
        n_base=len(base),
        n_head=len(head),
    )


def one_sided_p(
    base: Sequence[float], head: Sequence[float], direction: Literal["greater", "less"]
) -> float:
    """Mann-Whitney U p-value that head's values are ``direction`` than base's."""
    if len(set(base) | set(head)) == 1:
        return 1.0  # every value ties: no evidence either way (scipy would return nan)
    return float(mannwhitneyu(head, base, alternative=direction).pvalue)


def scaled(samples: Sequence[float], factor: float) -> list[float]:
    """``samples`` slowed by ``factor`` (1.10 = 10% slower): a planted proportional regression.

    Calibration injects this into A/A heads: the strategy's every round costs ``factor``
    times as much relative to its paired floor round, with the run's own noise unchanged.
    """
    return [x * factor for x in samples]


@dataclass(frozen=True)
class Timing:
    """What the timing tier judges for one benchmark: the paired ratios to the floor of both
    sides by one clock, and how they are compared.

    * ``metric``: ``cpu`` when both sides recorded CPU time for every round
      (``ormbench.measure.cpu``), else ``wall``.
    * ``logs``: when base and head took turns round by round, ``log(head_i / base_i)`` of the
      ratios of round i of each run of a look. The two rounds ran milliseconds apart and share
      the machine's state (its drift cancels between them); each ratio's floor ran in the same
      process as its strategy and shares that process's state (which core it sits on, how
      fast that core is just then: it cancels within the ratio). None when the sides did not
      take turns: the ratios are then compared as two samples.
    * ``wall``: with ``metric`` cpu, the same rounds by the wall clock, tested for a
      regression too (a change that waits without spending CPU: a sleep, a lock, a network).
    """

    metric: str
    base: tuple[float, ...]
    head: tuple[float, ...]
    logs: tuple[float, ...] | None = None
    wall: Timing | None = None

    def scaled(self, factor: float) -> Timing:
        """Head slowed by ``factor`` (a planted regression; see ``scaled``)."""
        logs = None if self.logs is None else tuple(x + math.log(factor) for x in self.logs)
        wall = None if self.wall is None else self.wall.scaled(factor)
        return Timing(self.metric, self.base, tuple(scaled(self.head, factor)), logs, wall)

    @property
    def n(self) -> int:
        """Samples of the smaller side (matched rounds, when matched)."""
        return len(self.logs) if self.logs is not None else min(len(self.base), len(self.head))

    @property
    def what(self) -> str:
        """How a finding names what was compared."""
        matched = ", rounds matched" if self.logs is not None else ""
        return f"ratio to dbapi ({self.metric}{matched})"

    def shift(self, tolerance: float = 0.0) -> Shift:
        """Medians, change and one-sided p-values that head moved beyond ``tolerance`` (up:
        by more than ``+tolerance``; down: by more than ``-tolerance``): a signed-rank test on
        the matched rounds (Wilcoxon), else the U test on the two samples."""
        up, down = math.log1p(tolerance), math.log1p(-tolerance)
        if self.logs is None:
            return Shift(
                base_median=statistics.median(self.base),
                head_median=statistics.median(self.head),
                p_greater=one_sided_p(self.base, scaled(self.head, math.exp(-up)), "greater"),
                p_less=one_sided_p(self.base, scaled(self.head, math.exp(-down)), "less"),
                n_base=len(self.base),
                n_head=len(self.head),
                metric=self.metric,
            )
        return Shift(
            base_median=statistics.median(self.base),
            head_median=statistics.median(self.head),
            p_greater=signed_rank_p([x - up for x in self.logs], "greater"),
            p_less=signed_rank_p([x - down for x in self.logs], "less"),
            n_base=len(self.base),
            n_head=len(self.head),
            paired_change=math.exp(statistics.median(self.logs)) - 1,
            metric=self.metric,
        )

    def resolution(self) -> float:
        """Relative half-width of the 95% interval of the change: of the median matched
        difference when matched, else combined from each side's interval of its median."""
        if self.logs is not None:
            ci = median_ci(self.logs)
            return (math.exp(ci.high) - math.exp(ci.low)) / 2
        return math.hypot(_half_width(self.base), _half_width(self.head))


def _half_width(samples: Sequence[float]) -> float:
    ci = median_ci(samples)
    return (ci.high - ci.low) / 2 / ci.median if ci.median else math.inf


def signed_rank_p(logs: Sequence[float], direction: Literal["greater", "less"]) -> float:
    """Wilcoxon signed-rank p-value that the matched differences are ``direction`` than 0."""
    if not any(logs):
        return 1.0  # every difference is zero: no evidence either way
    return float(wilcoxon(logs, alternative=direction).pvalue)


def matched_logs(
    base: Sequence[float],
    head: Sequence[float],
    base_runs: Sequence[int],
    head_runs: Sequence[int],
) -> tuple[float, ...] | None:
    """``log(head_i / base_i)`` for round i of each pair of runs (one pair per look); None
    when the sides' runs do not line up (a run missing on one side)."""
    if len(base_runs) != len(head_runs) or sum(base_runs) != len(base):
        return None
    if sum(head_runs) != len(head):
        return None
    out: list[float] = []
    b = h = 0
    for nb, nh in zip(base_runs, head_runs, strict=True):
        out.extend(
            math.log(y / x) for x, y in zip(base[b : b + nb], head[h : h + nh], strict=False)
        )
        b, h = b + nb, h + nh
    return tuple(out)


__all__ = [
    "Shift",
    "Timing",
    "matched_logs",
    "one_sided_p",
    "scaled",
    "shift",
    "signed_rank_p",
]
