"""One benchmark case, measured against the floor: paired rounds, capture and counters.

Every timed round of a strategy is paired with an execution of ``dbapi_fetchall`` on the same
request, adjacent in time, outside the timed region. The per-round ratio cancels the machine's
drift; its median and 95% interval are the primary figures (sequential runs read a 2.0x ratio
as 1.2x: time ``orm_scalars`` and ``dbapi_fetchall`` in two separate `pytest --benchmark-only
-k` runs and divide their medians, against the paired ``ratio`` of one run).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from ormbench.measure.capture import Capture
from ormbench.measure.cpu import CpuClock, has_parallel_workers
from ormbench.measure.observe import Observed, Subject, observe, once_s, paired_rounds, timed, warm
from ormbench.measure.settle import SETTLE_S, settle
from ormbench.measure.stats import median_ci, paired_ratios
from ormbench.query.spec import ContentRequest, Page
from ormbench.strategies import StrategyContext, get_strategy, label

# The floor every ratio is measured against.
FLOOR = "dbapi_fetchall"
# Default JSON loader; other loaders add a suffix to ids and groups.
DEFAULT_LOADER = "json"
# Seconds one benchmark's rounds aim for: timed and paired executions and their settles.
ROUND_BUDGET_S = 0.5
# Bounds on rounds: enough samples for a 95% interval and a U test; a ceiling for fast cases
# (the budget governs: 1 s of a 10-row page is about 35 rounds).
MIN_ROUNDS = 15
MAX_ROUNDS = 2000


@dataclass(frozen=True)
class Case:
    """One cell of the matrix: scenario x page size x strategy (x JSON loader)."""

    scenario: str
    page_size: int
    strategy: str
    loader: str = DEFAULT_LOADER

    @property
    def group(self) -> str:
        suffix = "" if self.loader == DEFAULT_LOADER else f"-{self.loader}"
        return f"{self.scenario}-p{self.page_size}{suffix}"

    @property
    def id(self) -> str:
        return f"{self.group}-{self.strategy}"


@dataclass
class Prepared:
    """What is known about a case before its timed rounds."""

    case: Case
    target: Callable[[], Page]
    floor: Callable[[], Page]
    page: Page
    capture: Capture
    calls: int
    peak_bytes: int
    rounds: int
    floor_times: list[float] = field(default_factory=list)
    # Normalized plan shape of each captured statement (ormbench.measure.plans), as dicts.
    plans: list[dict[str, Any]] = field(default_factory=list)
    # Plan mode of each captured statement (Observed.plan_modes).
    plan_modes: list[dict[str, Any]] = field(default_factory=list)
    # Rounds whose floor execution is done (before() and after() count them).
    paired_rounds: int = 0
    # Seconds of idle before each timed execution, the target's and the floor's (SETTLE_S).
    settle_s: float = SETTLE_S
    # CPU time of each timed execution beside its wall time (ormbench.measure.cpu); None when
    # the clock cannot read every process that serves the case (cpu_unavailable says why).
    cpu: CpuClock | None = None
    cpu_unavailable: str = ""
    target_cpu: list[float | None] = field(default_factory=list)
    floor_cpu: list[float | None] = field(default_factory=list)
    _cpu_start: dict[int, int] | None = None
    # Whether the CPU clock can see every cost of this kind of case (a response served through
    # the app runs its handler on another thread).
    CPU_CLOCK: ClassVar[bool] = True

    @classmethod
    def observed(
        cls,
        case: Case,
        target: Callable[[], Any],
        floor: Callable[[], Any],
        page: Page,
        seen: Observed,
        rounds: int,
        settle_s: float,
        **more: Any,
    ) -> Self:
        """A case prepared from what ``observe`` saw of its target."""
        cpu, why = cpu_clock_for(seen) if cls.CPU_CLOCK else (None, "not measured for responses")
        return cls(
            case,
            target,
            floor,
            page,
            seen.capture,
            seen.calls,
            seen.peak_bytes,
            rounds,
            plans=seen.plans,
            plan_modes=seen.plan_modes,
            settle_s=settle_s,
            cpu=cpu,
            cpu_unavailable=why,
            **more,
        )

    def before(self) -> None:
        """pedantic's setup: the floor runs before the target in even rounds; then the target's
        settle, so that its timer starts after the same idle in every round."""
        if self.paired_rounds % 2 == 0:
            self._time_floor()
        settle(self.settle_s)
        if self.cpu is not None:
            self._cpu_start = self.cpu.read()

    def after(self) -> None:
        """pedantic's teardown: the floor runs right after the target in odd rounds.

        Alternating sides cancels the order effect of a fixed side: whichever of the two runs
        second finds the caches warm from the first (measured with the floor paired against
        itself: always before the target it read 0.92-0.98, alternating reads 1.00).
        """
        if self.cpu is not None:
            self.target_cpu.append(CpuClock.seconds(self._cpu_start, self.cpu.read()))
        if self.paired_rounds % 2 == 1:
            self._time_floor()
        self.paired_rounds += 1

    def _time_floor(self) -> None:
        timed(self.floor, self.floor_times, self.settle_s, self.cpu, self.floor_cpu)


def cpu_clock_for(seen: Observed) -> tuple[CpuClock | None, str]:
    """The CPU clock of an observed case, or None and why it would not see every cost."""
    if has_parallel_workers(seen.plans):
        return None, "its plan runs parallel workers, processes the CPU clock does not read"
    clock = CpuClock(seen.subject.engine)
    if clock.read() is None:
        return None, "a connection's server process could not be proven (remote server?)"
    return clock, ""


def prepare(
    case: Case,
    ctx: StrategyContext,
    req: ContentRequest,
    *,
    budget_s: float = ROUND_BUDGET_S,
    min_rounds: int = MIN_ROUNDS,
    settle_s: float = SETTLE_S,
) -> Prepared:
    """Warm up, check the page against the floor, capture statements, count, size the rounds.

    ``budget_s`` is wall time: a round costs the target, the floor and both settles."""
    strategy, floor_fn = get_strategy(case.strategy), get_strategy(FLOOR)

    def target() -> Page:
        return strategy(ctx, req)

    def floor() -> Page:
        return floor_fn(ctx, req)

    page, expected = warm(target, floor)
    _check_page(case, page, expected)
    seen = observe(Subject(case.strategy, label(strategy), target, ctx.engine))
    rounds = paired_rounds(budget_s, once_s(target, floor), settle_s, min_rounds, MAX_ROUNDS)
    return Prepared.observed(case, target, floor, page, seen, rounds, settle_s)


def check_once(case: Case, ctx: StrategyContext, req: ContentRequest) -> Page:
    """One execution of the case, its page checked against the floor's, nothing timed: the
    smoke run of ``--benchmark-disable``."""
    page = get_strategy(case.strategy)(ctx, req)
    _check_page(case, page, get_strategy(FLOOR)(ctx, req))
    return page


def _check_page(case: Case, page: Page, expected: Page) -> None:
    expected.check(page, f"{case.id}: not the page {FLOOR} returns")


def cpu_info(prepared: Prepared, rounds: int) -> dict[str, Any]:
    """The CPU clock's paired samples (``cpu_ratio_samples``), or why there are none."""
    target, floor = prepared.target_cpu[:rounds], prepared.floor_cpu[:rounds]
    if prepared.cpu is None:
        return {"cpu_unavailable": prepared.cpu_unavailable}
    if len(target) < rounds or len(floor) < rounds or None in target or None in floor:
        return {"cpu_unavailable": "a server process came or went during a timed execution"}
    return {
        "cpu_ratio_samples": paired_ratios(target, floor),  # type: ignore[arg-type]
        "cpu_floor_samples": floor,
    }


def extra_info(prepared: Prepared, round_times: list[float]) -> dict[str, Any]:
    """The figures saved with a benchmark: paired ratios, samples, statements, counters."""
    # The first ones: pytest-benchmark may call setup/teardown again after the timed rounds
    # (--benchmark-cprofile).
    floor_times = prepared.floor_times[: len(round_times)]
    ratios = paired_ratios(round_times, floor_times)
    summary = median_ci(ratios)
    cap = prepared.capture
    rows = len(prepared.page)
    return {
        **cpu_info(prepared, len(round_times)),
        "scenario": prepared.case.scenario,
        "page_size": prepared.case.page_size,
        "strategy": prepared.case.strategy,
        "json_loader": prepared.case.loader,
        "rows": rows,
        "statements": cap.count,
        "rows_fetched": cap.rows_fetched,
        "fetch_ratio": (cap.rows_fetched / rows) if rows else None,
        "calls": prepared.calls,
        "peak_bytes": prepared.peak_bytes,
        "ratio": summary.as_dict(),
        "ratio_samples": ratios,
        "floor_samples": floor_times,
        "sql": [s.sql for s in cap.statements],
        "plans": prepared.plans,
        "plan_modes": prepared.plan_modes,
    }
