"""One observe step and one pairing step, shared by every paired measurement.

The strategy matrix (``ormbench.measure.paired``), the response matrix
(``ormbench.response.measure``), the pathology pairs (``ormbench.pathologies.paired``) and
explain (``ormbench.explain.analysis``) all do the same before and around their clocks:

* ``warm``: run the subject (and its partner, interleaved) ``WARMUP`` times untimed;
* ``observe``: one warm execution captured (its page, statements, rows fetched), EXPLAIN of
  exactly those statements (plan shapes), Python calls, peak memory, and the plan mode of each
  statement (generic or custom, from ``pg_prepared_statements``, as explain probes it), each on
  an execution of its own, all outside every timed region;
* ``timed``: one execution of the partner of a timed round, after the same settle as the
  target's and with its result freed after the clock stops, as pytest-benchmark frees the
  target's;
* ``paired_rounds``: how many rounds of both (and their settles) fit the budget.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from ormbench.measure.capture import Capture, capture
from ormbench.measure.counters import call_count, peak_memory
from ormbench.measure.cpu import CpuClock
from ormbench.measure.plans import PlanMode, plan_shapes, probe_plan_modes
from ormbench.measure.settle import settle
from ormbench.measure.stats import rounds_within

# Untimed executions of each side before anything is observed or timed (the first compiles
# statements and fills caches; the second runs as every later one will).
WARMUP = 2


@dataclass(frozen=True)
class Subject:
    """What is measured: a name, its label, one execution, and the engine it runs on."""

    name: str
    label: str
    run: Callable[[], Any]
    engine: Engine


@dataclass
class Observed:
    """One warm execution of a subject, observed outside every clock."""

    subject: Subject
    # What the captured execution returned (a page, or a response body).
    page: Any
    capture: Capture
    # Which plan each captured statement ran with, generic or custom (probed on its own run).
    modes: list[PlanMode]
    # Normalized plan shape of each captured statement (ormbench.measure.plans), as dicts.
    plans: list[dict[str, Any]]
    calls: int
    peak_bytes: int

    @property
    def plan_modes(self) -> list[dict[str, Any]]:
        """Each statement's plan mode as saved with a benchmark: the plan and whether a
        prepared statement ran it (the evidence's counters vary between runs: left out)."""
        return [{"plan": m.plan, "prepared": m.prepared} for m in self.modes]


def warm(*runs: Callable[[], Any]) -> tuple[Any, ...]:
    """Run each of ``runs`` ``WARMUP`` times, interleaved; the last result of each."""
    results: tuple[Any, ...] = ()
    for _ in range(WARMUP):
        results = tuple(run() for run in runs)
    return results


def observe(subject: Subject, *, memory: bool = True) -> Observed:
    """Page, statements, plan shapes, Python calls, (``memory``) peak bytes and plan modes of
    one warm execution each (run ``warm`` first).

    The plan-mode probe runs last: its execution is one more of each statement on its
    connection (psycopg prepares one after ``prepare_threshold``), so everything counted before
    it is counted on the same executions as without it.
    """
    with capture(subject.engine) as captured:
        page = subject.run()
    plans = [
        shape.as_dict()
        for shape in plan_shapes(subject.engine, captured.statements)
        if shape is not None
    ]
    calls = call_count(subject.run)
    peak = peak_memory(subject.run) if memory else 0
    modes = probe_plan_modes(subject.engine, subject.run)
    return Observed(subject, page, captured, modes, plans, calls, peak)


def once_s(*runs: Callable[[], Any]) -> float:
    """Seconds of one execution of each of ``runs`` in turn (to size the rounds)."""
    start = time.perf_counter()
    for run in runs:
        run()
    return time.perf_counter() - start


def paired_rounds(budget_s: float, pair_s: float, settle_s: float, low: int, high: int) -> int:
    """Rounds that fit ``budget_s`` of wall time: each costs one execution of both sides
    (``pair_s``) and their two settles; kept within [low, high]."""
    return rounds_within(budget_s, pair_s + 2 * settle_s, low, high)


def timed(
    run: Callable[[], Any],
    times: list[float],
    settle_s: float,
    cpu: CpuClock | None = None,
    cpu_times: list[float | None] | None = None,
) -> None:
    """The partner's execution in a timed round: settled as the target is, its time appended
    to ``times`` (and its CPU time to ``cpu_times``, read around the wall clock as the
    target's is read around pytest-benchmark's), its result freed after the clock stops
    (freeing a page is not loading it)."""
    settle(settle_s)
    cpu_start = None if cpu is None else cpu.read()
    start = time.perf_counter()
    result = run()  # kept past the clock, as pytest-benchmark keeps the target's
    times.append(time.perf_counter() - start)
    if cpu is not None and cpu_times is not None:
        cpu_times.append(CpuClock.seconds(cpu_start, cpu.read()))
    del result


__all__ = [
    "WARMUP",
    "Observed",
    "Subject",
    "observe",
    "once_s",
    "paired_rounds",
    "timed",
    "warm",
]
