"""Settle: every timed execution, paired or round-robin, comes right after the same idle."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ormbench.measure import observe, paired, roundrobin
from ormbench.measure.paired import Case, Prepared
from ormbench.measure.roundrobin import round_robin
from ormbench.pathologies import paired as pathology_paired
from ormbench.pathologies.paired import Pair
from ormbench.query.spec import Page


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What ran, in order, with each settle recorded instead of slept."""
    log: list[str] = []

    def record(seconds: float) -> None:
        log.append(f"settle {seconds:g}")

    for module in (observe, paired, roundrobin, pathology_paired):
        monkeypatch.setattr(module, "settle", record)
    return log


def test_paired_rounds_settle_before_the_target_and_before_the_floor(events: list[str]) -> None:
    """Even rounds: floor then target; odd rounds: target then floor; each timed execution
    preceded by exactly one settle, as pytest-benchmark's pedantic calls setup and teardown."""
    page = Page(("id",), ((1,),))

    def run(name: str) -> Page:
        events.append(name)
        return page

    prepared = Prepared(
        case=Case("canonical", 10, "orm_scalars"),
        target=lambda: run("target"),
        floor=lambda: run("floor"),
        page=page,
        capture=None,  # type: ignore[arg-type]
        calls=0,
        peak_bytes=0,
        rounds=4,
        settle_s=0.01,
    )
    for _ in range(prepared.rounds):
        prepared.before()
        prepared.target()
        prepared.after()
    one = "settle 0.01"
    assert events == [
        *(one, "floor", one, "target"),
        *(one, "target", one, "floor"),
        *(one, "floor", one, "target"),
        *(one, "target", one, "floor"),
    ]
    assert len(prepared.floor_times) == 4


def test_round_robin_settles_before_every_timed_call(events: list[str]) -> None:
    fns = {name: (lambda name=name: events.append(name)) for name in ("floor", "a", "b")}
    round_robin(fns, "floor", rounds=6, seed=1, settle_s=0.01)
    timed = events[len(fns) * roundrobin.WARMUP_ROUNDS :]
    assert timed[0::2] == ["settle 0.01"] * 18
    assert sorted(timed[1::2]) == sorted(list(fns) * 6)


def test_round_robin_budget_counts_the_settles(events: list[str]) -> None:
    """The budget is wall time: 4 calls of about 0 s after 0.1 s of settle each fit 249 rounds
    in 100 s (int(100 / 0.4...))."""
    fns = {name: (lambda: None) for name in ("floor", "a", "b", "c")}
    result = round_robin(fns, "floor", budget_s=100.0, settle_s=0.1)
    assert result.rounds == 249


class Freed:
    """A result that logs when it is freed (CPython frees it when its last reference goes)."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def __del__(self) -> None:
        self.log.append("freed")


def test_the_floor_page_is_freed_after_the_clock_stops(
    events: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """pytest-benchmark keeps the target's result past its timer; the floor's page must be
    freed outside its timed region too, or the floor alone pays for freeing a page."""
    monkeypatch.setattr(observe.time, "perf_counter", lambda: events.append("clock") or 0.0)
    prepared = Prepared(
        case=Case("canonical", 10, "orm_scalars"),
        target=lambda: Freed(events),  # type: ignore[arg-type,return-value]
        floor=lambda: Freed(events),  # type: ignore[arg-type,return-value]
        page=Page(("id",), ((1,),)),
        capture=None,  # type: ignore[arg-type]
        calls=0,
        peak_bytes=0,
        rounds=1,
        settle_s=0.01,
    )
    prepared.before()
    assert events == ["settle 0.01", "clock", "clock", "freed", "settle 0.01"]


def test_round_robin_frees_each_result_after_the_clock_stops(
    events: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ticks = iter(range(1, 10_000))
    monkeypatch.setattr(
        roundrobin.time, "perf_counter", lambda: events.append("clock") or next(ticks)
    )
    round_robin({"floor": lambda: Freed(events)}, "floor", rounds=6, settle_s=0.01)
    timed = events[events.index("settle 0.01") :]
    assert timed == ["settle 0.01", "clock", "clock", "freed"] * 6


def test_a_pathology_partner_settles_and_is_freed_after_the_clock_stops(
    events: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pathology pairs' partner round runs as the matrix's floor does: settle, clock,
    freed after the clock, then the target's settle."""
    monkeypatch.setattr(observe.time, "perf_counter", lambda: events.append("clock") or 0.0)
    variant = SimpleNamespace(run=lambda: Freed(events))
    pair = Pair(
        pathology=None,  # type: ignore[arg-type]
        runs={"bad": variant, "fixed": variant},  # type: ignore[dict-item]
        pages={},
        captures={},
        calls={},
        plans={},
        once={},
        rounds=1,
        settle_s=0.01,
    )
    pair.partner("bad")()
    assert events == ["settle 0.01", "clock", "clock", "freed", "settle 0.01"]
    assert pair.partner_times["bad"] == [0.0]
