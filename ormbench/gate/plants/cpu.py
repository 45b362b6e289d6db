"""Planted: one strategy spends a fixed share more CPU time per call, with no extra Python calls.

``ORMBENCH_PLANT_STRATEGY`` (default ``orm_scalars``) does its work, then spends CPU time equal
to ``ORMBENCH_PLANT_COST`` (default 0.25) times the time the work took, every call: a
regression of that strategy by that fraction relative to its paired floor round, as a slower
code path in C would be. The CPU time is measured (``process_time``), not estimated from a
loop rate taken once, so a busy machine slows the burn exactly as it slows real work. The
burn runs C-level chunks (``sum(range(n))``) sized to the time left at the rate the previous
chunk ran, so it lands within a few microseconds of its target (fixed 0.4 ms chunks made a
10% plant on a 4 ms page cost 10-20%) in two or three chunks: cProfile counts a handful of
calls, well under 1% of any strategy's count, so the call-count tier stays quiet and the
timing tier must catch it. Other strategies and the floor are untouched.
"""

from __future__ import annotations

import functools
import os
import time

from ormbench.errors import ConfigError
from ormbench.gate.plants import COST_ENV, planted_strategy, replace_strategy
from ormbench.query.spec import ContentRequest, Page
from ormbench.strategies import STRATEGIES, Strategy, StrategyContext

# Added CPU time as a fraction of the strategy's own time, unless ORMBENCH_PLANT_COST is set.
DEFAULT_COST = 0.25
# Smallest burn chunk (iterations, a few microseconds): the overshoot past the target.
_MIN_CHUNK = 200
# Iterations per CPU second, updated from every chunk (a first guess for the first one).
_rate = [50_000_000.0]


def _cost() -> float:
    raw = os.environ.get(COST_ENV, str(DEFAULT_COST))
    try:
        cost = float(raw)
    except ValueError:
        raise ConfigError(f"{COST_ENV}={raw!r}: expected a fraction such as 0.25") from None
    if not 0 <= cost <= 10:
        raise ConfigError(f"{COST_ENV}={raw!r}: expected a fraction between 0 and 10")
    return cost


COST = _cost()


def _burn(seconds: float) -> None:
    deadline = time.process_time() + seconds
    while (left := deadline - time.process_time()) > 0:
        n = max(_MIN_CHUNK, int(left * _rate[0]))
        start = time.process_time()
        sum(range(n))
        took = time.process_time() - start
        if took > 0:
            _rate[0] = n / took


def _slower(strategy: Strategy, cost: float) -> Strategy:
    @functools.wraps(strategy)
    def planted(ctx: StrategyContext, req: ContentRequest) -> Page:
        start = time.perf_counter()
        page = strategy(ctx, req)
        _burn(cost * (time.perf_counter() - start))
        return page

    return planted


TARGET = planted_strategy()
replace_strategy(TARGET, _slower(STRATEGIES[TARGET], COST))
