"""Measure base and head taking turns, then again only what the gate left undecided.

One *look* runs both sides at once, each in its own checkout and interpreter, alternating
their rounds (``ormbench.gate.turns``, copied where both can import it: the base may predate
it). After a look the gate judges the pooled runs of each side; the benchmarks still
undecided because their rounds could not resolve the threshold are measured again, both
sides, in the next look, until each gets a verdict, ``max_looks`` looks were made, or the time
cap passed. Every look has its share of alpha (``GateConfig.at_look``): the shares sum to at
most the configured alpha, so looking again never raises the false-alarm rate above what a
single calibrated look has (docs/gate.md, "Adaptive sampling").

``ormbench gate-run`` drives it for the perf workflow; ``ormbench calibrate --run`` uses the
same looks, so calibration measures what CI does.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ormbench.errors import UnusableInputError
from ormbench.gate import turns
from ormbench.gate.config import GateConfig
from ormbench.gate.sides import load_side
from ormbench.gate.tiers import GateResult, Verdict, compare

# The turn-taking plugin's module name once copied beside the runs (importable by any side).
TURNS_MODULE = "ormbench_turns"
# The two sides, in the order they are started (base holds the token first).
SIDES = ("base", "head")


@dataclass(frozen=True)
class Side:
    """How to run one side: its checkout, its interpreter, its pytest arguments."""

    name: str
    cwd: Path
    python: str
    args: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Look:
    """One look: which benchmarks it measured (None: all), how long it took, what it left."""

    number: int
    measured: tuple[str, ...] | None
    seconds: float
    undecided: tuple[str, ...]


def results_file(out: Path, side: str, look: int) -> Path:
    """Where one side's run of one look is saved (``*base*``/``*head*``: calibrate reads it)."""
    return out / f"{side}-look-{look}.json"


def selection(names: Sequence[str]) -> str:
    """A ``-k`` expression selecting exactly these benchmark ids."""
    return " or ".join(names)


def run_look(
    sides: Sequence[Side],
    out: Path,
    look: int,
    select: Sequence[str] | None = None,
    extra: Sequence[str] = (),
) -> None:
    """Run the sides at once, alternating rounds; each writes ``results_file(out, side, look)``.

    ``extra``: pytest arguments added to both sides (a further look's ``--min-rounds``)."""
    out.mkdir(parents=True, exist_ok=True)
    out = out.resolve()  # each side runs in its own checkout
    # The plugin's copy and the token's pipes live only as long as the look.
    with tempfile.TemporaryDirectory(prefix="ormbench-turns-") as tmp:
        shutil.copyfile(turns.__file__, Path(tmp) / f"{TURNS_MODULE}.py")
        procs = _start(sides, out, look, select, Path(tmp), extra)
        try:
            codes = [(side, proc.wait()) for side, proc in procs]
        except BaseException:
            _stop(procs)
            raise
    for side, code in codes:
        if code != 0:
            raise UnusableInputError(
                f"{side.name} run of look {look} failed (pytest exit {code}); see "
                f"{out / f'{side.name}-look-{look}.log'}"
            )


def _start(
    sides: Sequence[Side],
    out: Path,
    look: int,
    select: Sequence[str] | None,
    tmp: Path,
    extra: Sequence[str] = (),
) -> list[tuple[Side, subprocess.Popen[bytes]]]:
    procs: list[tuple[Side, subprocess.Popen[bytes]]] = []
    try:
        for side in sides:
            cmd = [
                side.python,
                "-m",
                "pytest",
                *side.args,
                *extra,
                *(["-k", selection(select)] if select else []),
                "-p",
                TURNS_MODULE,
                "--turns-dir",
                str(tmp / "baton"),
                "--turns-side",
                side.name,
                f"--benchmark-json={results_file(out, side.name, look)}",
            ]
            path = os.pathsep.join(p for p in (str(tmp), _pythonpath()) if p)
            env = {**os.environ, **side.env, "PYTHONPATH": path}
            with (out / f"{side.name}-look-{look}.log").open("w") as log:
                proc = subprocess.Popen(
                    cmd, cwd=side.cwd, stdout=log, stderr=subprocess.STDOUT, env=env
                )
            procs.append((side, proc))
    except BaseException:
        _stop(procs)
        raise
    return procs


def _stop(procs: Sequence[tuple[Side, subprocess.Popen[bytes]]]) -> None:
    """Stop the runs this look started (pytest unwinds and stops what it started)."""
    for _side, proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for _side, proc in procs:
        proc.wait()


def _pythonpath() -> str:
    return os.environ.get("PYTHONPATH", "")


def measure(
    sides: Sequence[Side],
    out: Path,
    config: GateConfig,
    *,
    allow_env_change: bool = False,
    adaptive: bool = True,
    clock: Callable[[], float] = time.monotonic,
    report: Callable[[Look], None] = lambda look: None,
) -> tuple[GateResult, list[Look]]:
    """Look, judge, and look again at what stayed undecided (see the module docstring).

    A further look runs the undecided benchmarks for the rounds their resolution says they
    need, as many of them as fit the time left of ``time_cap_s`` (``plan_look``)."""
    start = clock()
    looks: list[Look] = []
    select: tuple[str, ...] | None = None
    extra: tuple[str, ...] = ()
    max_looks = config.adaptive.max_looks if adaptive else 1
    for number in range(1, max_looks + 1):
        began = clock()
        run_look(sides, out, number, select, extra)
        result = judge_looks(out, number, config, allow_env_change=allow_env_change)
        again = resolvable_by_rounds(result)
        looks.append(Look(number, select, clock() - began, tuple(v.name for v in result.undecided)))
        report(looks[-1])
        # A regression already fails the gate, but the benchmarks still undecided are measured
        # on: the reviewer learns every regression, not only the first look's.
        if not again:
            break
        measured = len(select) if select is not None else len(result.verdicts)
        per_round = looks[-1].seconds / max(1, measured * _rounds_run(result, select))
        left = config.adaptive.time_cap_s - (clock() - start)
        plan = plan_look(again, config, per_round, left)
        if plan is None:
            break
        select, rounds = plan
        extra = ("--min-rounds", str(rounds))
    return result, looks


# Seconds a look spends before its first round (two interpreters start, collect, connect and
# check the dataset), added to a further look's estimate.
LOOK_STARTUP_S = 12.0
# A further look aims its resolution this far below the threshold: the estimate of how many
# rounds are needed is itself noisy, and a look that ends just short is wasted.
AIM = 0.8
# The most rounds one further look runs per benchmark, in multiples of the policy's minimum.
MAX_ROUNDS_FACTOR = 4


def needed_rounds(verdict: Verdict, config: GateConfig) -> int:
    """More rounds for ``verdict``'s pooled resolution to reach ``AIM`` x its threshold (an
    interval narrows as 1/sqrt(rounds)), within [policy minimum, ``MAX_ROUNDS_FACTOR`` x it]."""
    low = config.run.min_rounds
    if verdict.resolvable is None or verdict.samples is None:
        return low
    target = AIM * config.for_bench(verdict.name, verdict.group).threshold
    n = verdict.samples.n
    more = math.ceil(rounds_to_resolve(n, verdict.resolvable, target)) - n
    return max(low, min(more, MAX_ROUNDS_FACTOR * low))


def rounds_to_resolve(n: int, resolution: float, target: float) -> float:
    """Rounds for a resolution of ``resolution`` after ``n`` rounds to narrow to ``target``:
    an interval narrows as 1/sqrt(rounds)."""
    return n * (resolution / target) ** 2


# Fewest rounds worth a further look: below this a look costs its start-up for little.
MIN_LOOK_ROUNDS = 15


def plan_look(
    undecided: Sequence[Verdict], config: GateConfig, per_round_s: float, left_s: float
) -> tuple[tuple[str, ...], int] | None:
    """The next look: which undecided benchmarks, and how many rounds each, in ``left_s``.

    ``per_round_s``: seconds one round of one benchmark cost both sides in the last look.
    The benchmarks that need the fewest rounds come first: the most of them whose rounds all
    fit; if not even one fits, all of them for the rounds that fit (each look still narrows
    every interval); None when fewer than ``MIN_LOOK_ROUNDS`` fit."""
    if not undecided:
        return None
    ranked = sorted(undecided, key=lambda v: needed_rounds(v, config))
    budget = left_s - LOOK_STARTUP_S
    for k in range(len(ranked), 0, -1):
        rounds = needed_rounds(ranked[k - 1], config)
        if k * rounds * per_round_s <= budget:
            return tuple(v.name for v in ranked[:k]), rounds
    rounds = int(budget / (len(ranked) * max(per_round_s, 1e-9)))
    if rounds < MIN_LOOK_ROUNDS:
        return None
    return tuple(v.name for v in ranked), rounds


def _rounds_run(result: GateResult, select: Sequence[str] | None) -> float:
    """Mean rounds per benchmark of the newest look (its last run of base)."""
    rounds = [
        v.base.run_rounds[-1]
        for v in result.verdicts
        if v.base is not None and v.base.run_rounds and (select is None or v.name in select)
    ]
    return sum(rounds) / len(rounds) if rounds else 1.0


def judge_looks(
    out: Path, looks: int, config: GateConfig, *, allow_env_change: bool = False
) -> GateResult:
    """The gate on every look so far, each side's runs pooled."""
    base = load_side([results_file(out, "base", n) for n in range(1, looks + 1)])
    head = load_side([results_file(out, "head", n) for n in range(1, looks + 1)])
    return compare(base, head, config, allow_env_change=allow_env_change)


def resolvable_by_rounds(result: GateResult) -> list[Verdict]:
    """Undecided benchmarks that more rounds can decide: not those across protocols."""
    if result.protocol_diff:
        return []
    return [v for v in result.undecided if not v.protocol_diff]


__all__ = [
    "SIDES",
    "TURNS_MODULE",
    "Look",
    "Side",
    "judge_looks",
    "measure",
    "needed_rounds",
    "plan_look",
    "resolvable_by_rounds",
    "results_file",
    "run_look",
    "selection",
]
