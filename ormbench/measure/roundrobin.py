"""Round-robin timing: every round runs every strategy once, in a freshly shuffled order.

This is the reference the paired pytest figures are checked against: no strategy runs in a
block of its own, so machine drift lands on all of them alike, and the shuffle keeps any one
strategy from always following another (cache and allocator effects).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ormbench.measure.settle import SETTLE_S, settle
from ormbench.measure.stats import RatioSummary, median_ci, rounds_within

# Untimed rounds before the first timed one.
WARMUP_ROUNDS = 3
# Seconds of wall time a run aims for when no round count is given (settles included). Five
# settled 25 s runs of canonical p10 (about 200 rounds) spread 2.5-3.4% at worst (four
# fidelity runs); five 300-round runs (about 43 s) spread 2.5%: drift averages out only over
# a longer run (benchmarks/figures/fidelity.py).
BUDGET_S = 40.0
# Bounds of a budget-sized run: enough rounds for a 95% interval, and a ceiling.
MIN_ROUNDS = 30
MAX_ROUNDS = 2000


@dataclass(frozen=True)
class RoundRobinResult:
    """Per-strategy times of every round, and per-round ratios to the floor."""

    times: dict[str, list[float]]
    floor: str

    @property
    def rounds(self) -> int:
        return len(self.times[self.floor])

    def ratios(self, name: str) -> list[float]:
        return [t / f for t, f in zip(self.times[name], self.times[self.floor], strict=True)]

    def ratio(self, name: str) -> RatioSummary:
        return median_ci(self.ratios(name))

    def median(self, name: str) -> float:
        return median_ci(self.times[name]).median


def round_robin(
    fns: Mapping[str, Callable[[], object]],
    floor: str,
    rounds: int | None = None,
    seed: int = 0,
    budget_s: float = BUDGET_S,
    settle_s: float = SETTLE_S,
) -> RoundRobinResult:
    """Time ``rounds`` rounds of all ``fns`` (which must include ``floor``), shuffled per round,
    each execution after ``settle_s`` of idle; without ``rounds``, as many as fit ``budget_s``
    of wall time (sized on the last warm-up round)."""
    if floor not in fns:
        raise ValueError(f"the floor {floor!r} must be among the strategies")
    rng = random.Random(seed)
    names = list(fns)
    for _ in range(WARMUP_ROUNDS):
        start = time.perf_counter()
        for name in names:
            fns[name]()
        once = time.perf_counter() - start
    if rounds is None:
        rounds = rounds_within(budget_s, once + len(names) * settle_s, MIN_ROUNDS, MAX_ROUNDS)
    times: dict[str, list[float]] = {name: [] for name in names}
    clock = time.perf_counter
    for _ in range(rounds):
        rng.shuffle(names)
        for name in names:
            fn = fns[name]
            settle(settle_s)
            start = clock()
            page = fn()  # freed after the clock stops, as in the paired benchmarks
            times[name].append(clock() - start)
            del page
    return RoundRobinResult(times, floor)
