"""Round-robin timing (``ormbench compare``): every strategy every round, rounds sized by budget."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import Callable

import pytest

from ormbench.measure import roundrobin
from ormbench.measure.roundrobin import MAX_ROUNDS, MIN_ROUNDS, round_robin
from ormbench.measure.stats import rounds_within
from ormbench.strategies import STRATEGIES

RunCli = Callable[..., subprocess.CompletedProcess[str]]


def test_every_function_runs_once_per_round_in_a_shuffled_order() -> None:
    calls: list[str] = []
    fns = {name: (lambda name=name: calls.append(name)) for name in ("floor", "a", "b", "c")}
    result = round_robin(fns, "floor", rounds=40, seed=3)
    timed = calls[len(fns) * roundrobin.WARMUP_ROUNDS :]
    assert Counter(timed) == {name: 40 for name in fns}
    assert result.rounds == 40
    assert result.ratios("floor") == [1.0] * 40
    orders = {tuple(timed[i : i + 4]) for i in range(0, len(timed), 4)}
    assert len(orders) > 1  # shuffled per round, not one fixed order


def test_rounds_follow_the_budget_within_bounds() -> None:
    assert rounds_within(25.0, 0.04, MIN_ROUNDS, MAX_ROUNDS) == 625
    assert rounds_within(25.0, 10.0, MIN_ROUNDS, MAX_ROUNDS) == MIN_ROUNDS
    assert rounds_within(25.0, 1e-9, MIN_ROUNDS, MAX_ROUNDS) == MAX_ROUNDS
    assert rounds_within(0.5, 0.1, 30, 20) == 30  # a floor above the ceiling wins


def test_the_floor_must_be_among_the_strategies() -> None:
    with pytest.raises(ValueError, match="the floor 'floor' must be among the strategies"):
        round_robin({"a": lambda: None}, "floor", rounds=6)


@pytest.fixture(scope="module")
def cli_args(tiny_cli_args: list[str]) -> list[str]:
    return [*tiny_cli_args, "--scenario=canonical", "--page-size=10"]


def test_compare_json_lists_every_strategy_with_the_floor_at_one(
    run_cli: RunCli, cli_args: list[str]
) -> None:
    result = run_cli("compare", *cli_args, "--rounds=6", "--json", timeout=300)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["rounds"] == 6
    ratios = {row["strategy"]: row["ratio"] for row in doc["strategies"]}
    assert set(ratios) == set(STRATEGIES)
    assert ratios["dbapi_fetchall"]["median"] == 1.0
    assert all(r["n"] == 6 for r in ratios.values())


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--rounds=3", "--rounds 3 is too few for a 95% interval; use 6 or more"),
        ("--budget=0", "--budget 0 must be a positive number of seconds"),
    ],
)
def test_compare_rejects_bad_sizes(
    run_cli: RunCli, cli_args: list[str], option: str, message: str
) -> None:
    result = run_cli("compare", *cli_args, option)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
