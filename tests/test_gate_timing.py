"""The timing tier's samples: CPU time beside wall time, rounds matched when the sides took
turns, the process tolerance, and how many rounds a further look asks for."""

from __future__ import annotations

import dataclasses
import json
import math
import random
from pathlib import Path
from typing import Any

import pytest

from ormbench.gate import compare, load_run
from ormbench.gate.config import GateConfig, Thresholds
from ormbench.gate.looks import LOOK_STARTUP_S, needed_rounds, plan_look
from ormbench.gate.stats import Timing, matched_logs
from ormbench.gate.tiers import Outcome, Tier, timing_verdict
from tests.test_gate import bench, run_doc
from tests.test_gate_protocol import recorded


def drifting(n: int, seed: int, slower: float = 1.0, cpu_slower: float | None = None) -> dict:
    """One benchmark whose rounds drift together (a machine state shared by both sides at
    round i, up to +-40%) around a strategy 1.5x its floor; ``slower`` scales the target's
    wall time, ``cpu_slower`` its CPU time (default: as wall)."""
    doc = bench(n=n, seed=seed)
    rng = random.Random(1000)  # the machine: the same for both sides, round by round
    state = [math.exp(rng.uniform(-0.4, 0.4)) for _ in range(n)]
    noise = random.Random(seed)
    extra = doc["extra_info"]
    floors = [0.002 * s * math.exp(noise.gauss(0, 0.01)) for s in state]
    # The target's own time carries the state; its ratio to the floor, the floor's noise too.
    targets = [0.003 * slower * s * math.exp(noise.gauss(0, 0.01)) for s in state]
    extra["floor_samples"] = floors
    extra["ratio_samples"] = [t / f for t, f in zip(targets, floors, strict=True)]
    cpu = slower if cpu_slower is None else cpu_slower
    cpu_targets = [0.0025 * cpu * s * math.exp(noise.gauss(0, 0.01)) for s in state]
    cpu_floors = [0.0018 * s * math.exp(noise.gauss(0, 0.01)) for s in state]
    extra["cpu_floor_samples"] = cpu_floors
    extra["cpu_ratio_samples"] = [t / f for t, f in zip(cpu_targets, cpu_floors, strict=True)]
    return doc


def _gate(tmp_path: Path, base: dict[str, Any], head: dict[str, Any], *, turns: bool) -> Any:
    paths = []
    for name, doc in (("base", base), ("head", head)):
        doc = recorded(run_doc(doc), turns=turns)
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(doc))
        paths.append(path)
    return compare(load_run(paths[0]), load_run(paths[1]), GateConfig())


def test_rounds_that_took_turns_are_matched_and_judged_on_cpu_time(tmp_path: Path) -> None:
    """Base and head took turns: round i of each shares the machine's state, so their CPU
    ratios to the floor are compared round by round and a 10% regression is found."""
    result = _gate(tmp_path, drifting(40, 1), drifting(40, 2, slower=1.10), turns=True)
    (verdict,) = result.failures
    (finding,) = verdict.findings
    assert finding.tier is Tier.TIMING
    assert finding.what == "ratio to dbapi (cpu, rounds matched)"
    assert finding.change == pytest.approx(0.10, abs=0.01)


def test_unchanged_code_with_matched_rounds_is_decided_unchanged(tmp_path: Path) -> None:
    """The same drift on both sides cancels round by round: decided, not too noisy."""
    result = _gate(tmp_path, drifting(40, 1), drifting(40, 2), turns=True)
    assert result.counts()["unchanged"] == 1 and not result.undecided


def test_without_turns_ratios_to_the_floor_are_compared(tmp_path: Path) -> None:
    """Two runs that did not take turns: rounds cannot be matched, so the ratios to the floor
    are compared as two samples (only the ratio cancels drift between separate runs)."""
    result = _gate(tmp_path, drifting(40, 1), drifting(40, 2), turns=False)
    (verdict,) = result.verdicts
    assert verdict.samples is not None and verdict.samples.logs is None


def test_a_wall_only_regression_fails_though_cpu_is_unchanged(tmp_path: Path) -> None:
    """A page that waits longer without spending CPU (a sleep, a lock) fails on wall time."""
    head = drifting(40, 2, slower=1.30, cpu_slower=1.0)
    result = _gate(tmp_path, drifting(40, 1), head, turns=True)
    (verdict,) = result.failures
    assert verdict.findings[0].what == "ratio to dbapi (wall, rounds matched)"
    assert verdict.findings[0].limit == ">5%, p<0.0014"  # the wall share of look 1 (0.007)


def test_process_tolerance_moves_the_null_not_the_change() -> None:
    """A steady +3% between two processes: significant against 0, not against 5%."""
    rng = random.Random(3)
    logs = tuple(math.log(1.03) + rng.gauss(0, 0.002) for _ in range(40))
    samples = Timing("cpu", (1.0,) * 40, (1.03,) * 40, logs)
    assert samples.shift(0.0).p_greater < 1e-6
    assert samples.shift(0.05).p_greater > 0.99
    assert samples.shift(0.02).change == pytest.approx(0.03, abs=0.002)
    strict = Thresholds(threshold=0.02, process_tolerance=0.0)
    assert timing_verdict(samples, strict) is Outcome.REGRESSION
    tolerant = Thresholds(threshold=0.02, process_tolerance=0.05)
    assert timing_verdict(samples, tolerant) is Outcome.UNCHANGED


def test_matched_rounds_follow_each_pair_of_runs() -> None:
    """Round i of base's look k meets round i of head's look k; a side's extra rounds in a
    look are left out; runs that do not line up are not matched."""
    logs = matched_logs((1, 1, 1, 2, 2), (2, 2, 4, 4, 4), (3, 2), (2, 3))
    assert logs is not None
    assert [round(math.exp(x), 3) for x in logs] == [2.0, 2.0, 2.0, 2.0]
    assert matched_logs((1, 1), (1, 1), (2,), (1, 1)) is None


def test_a_further_look_asks_for_the_rounds_the_undecided_need(tmp_path: Path) -> None:
    """Resolution narrows as 1/sqrt(rounds): a benchmark resolving ±8% after 40 rounds needs
    about 40 x (8 / 4)^2 in all to reach 0.8 x 5%: 120 more, within 4 x the minimum."""
    base = drifting(40, 1)
    head = drifting(40, 2)
    result = _gate(tmp_path, base, head, turns=True)
    (verdict,) = result.verdicts
    config = GateConfig()
    verdict.resolvable = 0.08
    assert needed_rounds(verdict, config) == 120
    verdict.resolvable = 0.5
    assert needed_rounds(verdict, config) == 4 * config.run.min_rounds
    verdict.resolvable = 0.01
    assert needed_rounds(verdict, config) == config.run.min_rounds


def test_a_further_look_takes_the_undecided_that_fit_the_time_left(tmp_path: Path) -> None:
    """The cheapest first: with time for one benchmark's rounds, that one; with time for
    neither's, both for the rounds that fit; with time for fewer than 15 rounds, no look."""
    result = _gate(tmp_path, drifting(40, 1), drifting(40, 2), turns=True)
    (cheap,) = result.verdicts
    dear = dataclasses.replace(cheap, name="canonical-p10-core_text")
    cheap.resolvable, dear.resolvable = 0.06, 0.10  # need 50 and 210 (capped: 120) more
    config = GateConfig()
    assert needed_rounds(cheap, config) == 50 and needed_rounds(dear, config) == 120
    per_round = 0.05  # seconds of one benchmark-round, both sides
    startup = LOOK_STARTUP_S
    assert plan_look([dear, cheap], config, per_round, startup + 2 * 120 * per_round) == (
        (cheap.name, dear.name),
        120,
    )
    assert plan_look([dear, cheap], config, per_round, startup + 80 * per_round) == (
        (cheap.name,),
        50,
    )
    assert plan_look([dear, cheap], config, per_round, startup + 2 * 20 * per_round) == (
        (cheap.name, dear.name),
        20,
    )
    assert plan_look([dear, cheap], config, per_round, startup + 2 * 10 * per_round) is None
