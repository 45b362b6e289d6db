"""Statistics of paired rounds: ratios to the floor, their median and a 95% interval."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from scipy.stats import binom

# Confidence level of every interval ormbench reports.
CONFIDENCE = 0.95


@dataclass(frozen=True)
class RatioSummary:
    """Median of per-round ratios with a distribution-free confidence interval."""

    median: float
    low: float
    high: float
    n: int

    def as_dict(self) -> dict[str, float | int]:
        return {"median": self.median, "ci_low": self.low, "ci_high": self.high, "n": self.n}


def rounds_within(budget_s: float, round_s: float, low: int, high: int) -> int:
    """Rounds of ``round_s`` seconds that fit ``budget_s``, kept within [low, high]."""
    return max(low, min(max(high, low), int(budget_s / max(round_s, 1e-6))))


def paired_ratios(target: Sequence[float], floor: Sequence[float]) -> list[float]:
    """Per-round ratio of a strategy's time to its adjacent floor execution."""
    if len(target) != len(floor):
        raise ValueError(f"{len(target)} timed rounds but {len(floor)} paired floor rounds")
    return [t / f for t, f in zip(target, floor, strict=True) if f > 0]


def median_ci(samples: Sequence[float], confidence: float = CONFIDENCE) -> RatioSummary:
    """Median and its order-statistic confidence interval (no normality assumed).

    The interval [x(j), x(k)] covers the median with probability >= ``confidence`` where j, k
    come from the Binomial(n, 1/2) distribution of how many samples fall below the median.
    """
    xs = sorted(samples)
    n = len(xs)
    if n == 0:
        return RatioSummary(math.nan, math.nan, math.nan, 0)
    med = statistics.median(xs)
    if n < 6:  # too few rounds for a 95% interval: report the range
        return RatioSummary(med, xs[0], xs[-1], n)
    alpha = 1 - confidence
    j = int(binom.ppf(alpha / 2, n, 0.5))
    k = n - j
    j = max(j, 1)
    return RatioSummary(med, xs[j - 1], xs[min(k, n) - 1], n)
