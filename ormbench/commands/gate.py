"""``ormbench gate``, ``ormbench history`` and ``ormbench calibrate``: the perf gate's commands.

``gate BASE HEAD`` compares two sides (a results file, or a directory of runs each) in tiers
and exits 1 on a regression, 4 on unusable input. ``history`` shows trends over saved runs,
flags steps, draws charts and keeps the history store. ``calibrate`` measures the gate's
false-alarm rate and the smallest regression it detects from A/A runs. docs/gate.md.
"""

from __future__ import annotations

import argparse
import json
import os
import pkgutil
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ormbench.cli import command
from ormbench.config import SETTINGS, Settings
from ormbench.errors import EXIT_REGRESSION, ConfigError
from ormbench.gate.config import load_config
from ormbench.gate.report import as_json, render
from ormbench.gate.runs import DEFAULT_STORAGE, load_side
from ormbench.gate.tiers import budgets_only, compare

# Where GitHub Actions collects a job's markdown summary.
SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


def publish(markdown: str, json_path: Path | None = None, doc: object = None) -> None:
    """Print the report, append it to the job summary when in GitHub Actions, save JSON."""
    sys.stdout.write(markdown)
    summary = os.environ.get(SUMMARY_ENV)
    if summary:
        with open(summary, "a", encoding="utf-8") as f:
            f.write(markdown + "\n")
    if json_path is not None:
        json_path.write_text(json.dumps(doc, indent=2, default=str) + "\n")


def _gate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "base",
        type=Path,
        help="base side: a --benchmark-json file, a directory of runs (merged) or a run id of "
        "pytest-benchmark's storage (0001); alone, the run whose budgets are checked",
    )
    parser.add_argument(
        "head", type=Path, nargs="?", default=None, help="head side: a file or a directory"
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="thresholds and budgets (default: ./ormbench-gate.toml, else built-in defaults)",
    )
    parser.add_argument(
        "--allow-env-change",
        action="store_true",
        help="compare even when Python, libraries, server or dataset differ (listed in the report)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the verdicts as JSON")
    parser.add_argument(
        "--benchmark-storage",
        default=DEFAULT_STORAGE,
        metavar="URI",
        help="pytest-benchmark storage where run ids (BASE/HEAD like 0001) are looked up "
        "[default: %(default)s]",
    )


@command("gate", "compare base and head runs in tiers; exit 1 on a regression", _gate_arguments)
def cmd_gate(args: argparse.Namespace, settings: Settings) -> int:
    config = load_config(args.config)
    if args.head is None:
        result = budgets_only(load_side([args.base], args.benchmark_storage), config)
    else:
        base = load_side([args.base], args.benchmark_storage)
        head = load_side([args.head], args.benchmark_storage)
        result = compare(base, head, config, allow_env_change=args.allow_env_change)
    publish(render(result), args.json, as_json(result))
    return 0 if result.passed else EXIT_REGRESSION


def forwarded_settings(args: argparse.Namespace) -> list[str]:
    """The server and dataset options given to this command, as pytest options."""
    out: list[str] = []
    for s in SETTINGS:
        value = getattr(args, s.name, None)
        if value is not None:
            out += [s.option, str(value)]
    return out


# -- history ------------------------------------------------------------------------------------

# Where history is read from when no source is named: pytest-benchmark's storage and the store.
DEFAULT_SOURCES = (Path(".benchmarks"), Path("ormbench-history"))


def _history_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "sources",
        nargs="*",
        type=Path,
        help="run files or directories (default: .benchmarks/ and ormbench-history/)",
    )
    parser.add_argument("--last", type=int, default=None, metavar="N", help="the newest N runs")
    parser.add_argument(
        "--step-threshold",
        type=float,
        default=None,
        help="relative ratio change that makes a step (default: [history] step_threshold, 0.10)",
    )
    parser.add_argument("--charts", type=Path, default=None, metavar="DIR", help="write PNGs")
    parser.add_argument(
        "--append", type=Path, default=None, metavar="RUN", help="add RUN to --store first"
    )
    parser.add_argument(
        "--store", type=Path, default=Path("ormbench-history"), help="the history store"
    )
    parser.add_argument("--keep", type=int, default=None, help="keep the newest N runs in --store")
    parser.add_argument(
        "--github-benchmark",
        type=Path,
        default=None,
        metavar="FILE",
        help="write the newest run's ratios as github-action-benchmark customSmallerIsBetter",
    )
    parser.add_argument("--config", type=Path, default=None, help="gate config (thresholds)")


@command(
    "history",
    "trends, steps and charts over saved runs; keep the history store",
    _history_arguments,
)
def cmd_history(args: argparse.Namespace, settings: Settings) -> int:
    from ormbench.gate import history

    if args.last is not None and args.last < 1:
        raise ConfigError(f"--last {args.last}: expected a positive number of runs")
    if args.append is not None:
        stored = history.append_run(args.append, args.store, args.keep)
        print(f"ormbench: stored {stored}", file=sys.stderr)
    sources = list(args.sources) or [p for p in DEFAULT_SOURCES if p.exists()]
    if args.append is not None and not args.sources:
        sources = [args.store]
    if not sources:
        raise ConfigError(
            "no runs to show: name files or directories, or save runs with "
            "--benchmark-autosave (.benchmarks/) or `ormbench history --append RUN.json`"
        )
    runs, skipped = history.load_history(sources, args.last)
    threshold = args.step_threshold
    if threshold is None:
        threshold = load_config(args.config).step_threshold
    publish(history.render_trends(runs, threshold, skipped))
    if args.charts is not None:
        for path in history.write_charts(runs, args.charts):
            print(f"ormbench: wrote {path}", file=sys.stderr)
    if args.github_benchmark is not None:
        entries = history.github_benchmark(runs[-1])
        args.github_benchmark.write_text(json.dumps(entries, indent=2) + "\n")
        print(f"ormbench: wrote {args.github_benchmark}", file=sys.stderr)
    return 0


# -- calibrate ----------------------------------------------------------------------------------

# What one side of an A/A pair runs (plus the server and dataset options given to calibrate).
# Seconds of rounds per benchmark in gate runs (perf.yml passes the same): base and head
# alternate rounds, so drift cancels between them and the median's noise falls as rounds grow;
# at 0.5 s a third of the benchmarks could not resolve the 6% threshold (docs/gate.md).
GATE_ROUND_BUDGET = "1.0"
# Fewest rounds per benchmark in gate runs: settled rounds of a 100-row page take about 40 ms,
# and 1.0 s of them (22-27) left 7 of 30 real 10% regressions without a verdict (docs/gate.md).
GATE_MIN_ROUNDS = "40"
CALIBRATE_PYTEST = (
    "benchmarks/test_strategies.py",
    "-m",
    "gate",
    f"--round-budget={GATE_ROUND_BUDGET}",
    f"--min-rounds={GATE_MIN_ROUNDS}",
    "--benchmark-only",
    "-q",
    "-p",
    "no:cacheprovider",
)


def _calibrate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", type=Path, help="A/A runs: read, or written with --run")
    parser.add_argument(
        "--run",
        type=int,
        default=0,
        metavar="PAIRS",
        help="first make PAIRS A/A comparisons into DIRECTORY (base and head alternating "
        "round by round, as the perf workflow runs them)",
    )
    parser.add_argument(
        "--per-side",
        type=int,
        default=1,
        help="for a flat directory of runs: runs per side of one comparison (alternating)",
    )
    parser.add_argument(
        "--inject",
        type=float,
        default=None,
        help="planted slowdown whose detection rate is reported (default 0.10)",
    )
    parser.add_argument(
        "--pytest-args",
        default="",
        help='extra pytest arguments for --run, e.g. "-k canonical"',
    )
    parser.add_argument(
        "--plant",
        default=None,
        help="for --run: heads load this planted regression (e.g. cpu, a module of "
        "ormbench.gate.plants) to measure real detection instead of an A/A false-alarm rate",
    )
    parser.add_argument(
        "--plant-cost",
        type=float,
        default=0.10,
        help="for --plant cpu: the planted slowdown as a fraction (default 0.10)",
    )
    parser.add_argument(
        "--plant-strategy",
        default=None,
        help="for --plant: the strategy it slows (default orm_scalars)",
    )
    parser.add_argument("--config", type=Path, default=None, help="gate config (thresholds)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")


@command(
    "calibrate", "false alarms and smallest detected regression from A/A runs", _calibrate_arguments
)
def cmd_calibrate(args: argparse.Namespace, settings: Settings) -> int:
    from ormbench.gate import calibrate

    config = load_config(args.config)
    if args.run:
        extra = [*forwarded_settings(args), *shlex.split(args.pytest_args)]
        plant = _plant(args) if args.plant else None
        run_pairs(args.directory, args.run, extra, plant)
    inject = calibrate.DEFAULT_INJECT if args.inject is None else args.inject
    comparisons = calibrate.find_comparisons(args.directory, args.per_side)
    result = calibrate.calibrate(comparisons, config, inject=inject)
    doc = {
        "comparisons": result.comparisons,
        "false_alarms": {tier: dict(c) for tier, c in result.alarms.items()},
        "judged": dict(result.judged),
        "alarm_rate": result.alarm_rate(),
        "inject": inject,
        "detected": result.detected(inject),
        "smallest_detected": result.smallest_detected(),
        "too_noisy": dict(result.too_noisy),
        "detected_when_judged": result.detected_when_judged,
        "sweep": result.sweep,
    }
    publish(calibrate.render(result, config), args.json, doc)
    return 0


def _plant(args: argparse.Namespace) -> dict[str, Any]:
    """What --plant, --plant-cost and --plant-strategy ask for, checked."""
    from ormbench.gate import plants

    known = sorted(m.name for m in pkgutil.iter_modules(plants.__path__))
    if args.plant not in known:
        raise ConfigError(
            f"--plant {args.plant!r} is not a planted regression; known: {', '.join(known)}"
        )
    if not 0 < args.plant_cost <= 10:
        raise ConfigError(f"--plant-cost {args.plant_cost:g}: expected a fraction such as 0.10")
    return {
        "module": f"{plants.__name__}.{args.plant}",
        "strategy": args.plant_strategy or plants.DEFAULT_PLANT_STRATEGY,
        "cost": args.plant_cost,
    }


def run_pairs(
    directory: Path, pairs: int, extra: Sequence[str], plant: dict[str, Any] | None = None
) -> None:
    """Make ``pairs`` comparisons: two runs of this checkout, taking turns round by round.

    A/A unless ``plant`` is given: then head loads that planted regression (and the pair
    directory records it in ``plant.json`` for the analysis)."""
    start = len([d for d in directory.glob("pair-*") if d.is_dir()]) if directory.exists() else 0
    for n in range(start + 1, start + pairs + 1):
        pair = directory / f"pair-{n:03d}"
        pair.mkdir(parents=True, exist_ok=True)
        env = None
        if plant is not None:
            from ormbench.gate.calibrate import PLANT_FILE
            from ormbench.gate.plants import COST_ENV, STRATEGY_ENV

            (pair / PLANT_FILE).write_text(json.dumps(plant))
            env = {**os.environ, STRATEGY_ENV: plant["strategy"], COST_ENV: str(plant["cost"])}
        procs = []
        for side in ("base", "head"):
            cmd = [
                sys.executable,
                "-m",
                "pytest",
                *CALIBRATE_PYTEST,
                "-p",
                "ormbench.gate.turns",
                "--turns-dir",
                str(pair / "baton"),
                "--turns-side",
                side,
                f"--benchmark-json={pair / f'{side}.json'}",
                *extra,
            ]
            if plant is not None and side == "head":
                cmd += ["--strategies-from", plant["module"]]
            log = open(pair / f"{side}.log", "w")  # noqa: SIM115 - closed after wait()
            procs.append(
                (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), log)
            )
        try:
            codes = [proc.wait() for proc, _log in procs]
        except KeyboardInterrupt:
            for proc, _log in procs:
                proc.terminate()  # pytest unwinds and stops what it started
            raise
        finally:
            for _proc, log in procs:
                log.close()
        for code, (_proc, log) in zip(codes, procs, strict=True):
            if code != 0:
                raise ConfigError(f"A/A run in {pair} failed (pytest exit {code}); see {log.name}")
        print(f"ormbench: A/A pair {n} written to {pair}", file=sys.stderr)
