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

from scipy.stats import mannwhitneyu


@dataclass(frozen=True)
class Shift:
    """How head's samples moved from base's."""

    base_median: float
    head_median: float
    p_greater: float  # one-sided p that head's values are larger
    p_less: float  # one-sided p that head's values are smaller
    n_base: int
    n_head: int

    @property
    def change(self) -> float:
        """Relative change of the median, head over base minus one."""
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


__all__ = ["Shift", "one_sided_p", "scaled", "shift"]
