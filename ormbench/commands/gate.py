"""``ormbench gate``, ``ormbench history`` and ``ormbench calibrate``: the perf gate's commands.

``gate BASE HEAD`` compares two sides (a results file, or a directory of runs each) in tiers
and exits 0 when every benchmark was decided and none regressed, 1 on a regression, 4 on
unusable input, 5 when nothing regressed but some benchmark stayed undecided. ``history``
shows trends over saved runs, flags steps, draws charts and keeps the history store.
``calibrate`` measures the gate's false-alarm rate and the smallest regression it detects
from A/A runs. docs/gate.md.
"""

from __future__ import annotations

import argparse
import json
import os
import pkgutil
import re
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ormbench.cli import command
from ormbench.config import SETTINGS, Settings
from ormbench.errors import ConfigError
from ormbench.gate.config import GateConfig, load_config
from ormbench.gate.report import as_json, render
from ormbench.gate.runs import DEFAULT_STORAGE
from ormbench.gate.sides import load_side
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
    _gate_arguments_common(parser)
    parser.add_argument(
        "--benchmark-storage",
        default=DEFAULT_STORAGE,
        metavar="URI",
        help="pytest-benchmark storage where run ids (BASE/HEAD like 0001) are looked up "
        "[default: %(default)s]",
    )


@command(
    "gate",
    "compare base and head runs in tiers; exit 1 on a regression, 5 when undecided",
    _gate_arguments,
)
def cmd_gate(args: argparse.Namespace, settings: Settings) -> int:
    config = load_config(args.config)
    if args.head is None:
        result = budgets_only(load_side([args.base], args.benchmark_storage), config)
    else:
        base = load_side([args.base], args.benchmark_storage)
        head = load_side([args.head], args.benchmark_storage)
        result = compare(base, head, config, allow_env_change=args.allow_env_change)
    publish(render(result), args.json, as_json(result))
    return result.exit_code


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
    parser.add_argument(
        "--git-repo",
        type=Path,
        default=None,
        metavar="DIR",
        help="order runs by the first-parent history of --branch in this clone (default: by "
        "the commit time each run recorded)",
    )
    parser.add_argument(
        "--branch", default="main", help="the branch whose history orders runs [default: main]"
    )
    _config_argument(parser, "gate config (thresholds)")


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
    runs, skipped = history.load_history(sources, args.last, args.git_repo, args.branch)
    if not runs:
        raise ConfigError(
            f"no run is of a commit on the first-parent history of {args.branch} in "
            f"{args.git_repo}; name the clone the runs were made from, or leave out --git-repo"
        )
    threshold = args.step_threshold
    if threshold is None:
        threshold = load_config(args.config).step_threshold
    publish(history.render_trends(runs, threshold, skipped))
    if args.charts is not None:
        for path in history.write_charts(runs, args.charts, threshold):
            print(f"ormbench: wrote {path}", file=sys.stderr)
    if args.github_benchmark is not None:
        newest = runs[-1] if args.append is None else history.load_run(stored)
        entries = history.github_benchmark(newest)
        args.github_benchmark.write_text(json.dumps(entries, indent=2) + "\n")
        print(f"ormbench: wrote {args.github_benchmark}", file=sys.stderr)
    return 0


# -- calibrate ----------------------------------------------------------------------------------


def calibrate_pytest(config: GateConfig) -> list[str]:
    """What one side of an A/A pair runs: the gate policy's pytest options (``[run]``)."""
    return config.run.pytest_args()


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
        help="for --plant: the strategy it slows (default orm_scalars); a comma-separated list "
        "takes turns, pair by pair (pair 1 the first, pair 2 the second, ...)",
    )
    parser.add_argument(
        "--adaptive",
        action="store_true",
        help="for --run: measure again what each pair left undecided, as perf.yml does "
        "([adaptive] of the config)",
    )
    _config_argument(parser, "gate config (thresholds)")
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
        run_pairs(args.directory, args.run, extra, config, plant, adaptive=args.adaptive)
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
        "rounds_needed": result.rounds_needed(),
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
    strategies = [s for s in (args.plant_strategy or "").split(",") if s]
    return {
        "module": f"{plants.__name__}.{args.plant}",
        "strategies": strategies or [plants.DEFAULT_PLANT_STRATEGY],
        "cost": args.plant_cost,
    }


def run_pairs(
    directory: Path,
    pairs: int,
    extra: Sequence[str],
    config: GateConfig,
    plant: dict[str, Any] | None = None,
    *,
    adaptive: bool = False,
) -> None:
    """Make ``pairs`` comparisons: two runs of this checkout, taking turns round by round
    (``ormbench.gate.looks``), and with ``adaptive`` further looks at what stayed undecided.

    A/A unless ``plant`` is given: then head loads that planted regression in one of its
    ``strategies``, taking turns pair by pair (the pair directory records it in
    ``plant.json`` for the analysis; every other benchmark of the pair stays A/A)."""
    from ormbench.gate.looks import Side, measure

    start = len([d for d in directory.glob("pair-*") if d.is_dir()]) if directory.exists() else 0
    args = (*calibrate_pytest(config), *extra)
    for n in range(start + 1, start + pairs + 1):
        pair = directory / f"pair-{n:03d}"
        pair.mkdir(parents=True, exist_ok=True)
        head_args, head_env = args, {}
        if plant is not None:
            from ormbench.gate.calibrate import PLANT_FILE
            from ormbench.gate.plants import COST_ENV, STRATEGY_ENV

            strategies = plant["strategies"]
            planted = {
                "module": plant["module"],
                "strategy": strategies[(n - 1) % len(strategies)],
                "cost": plant["cost"],
            }
            (pair / PLANT_FILE).write_text(json.dumps(planted))
            head_args = (*args, "--strategies-from", planted["module"])
            head_env = {STRATEGY_ENV: planted["strategy"], COST_ENV: str(planted["cost"])}
        cwd = Path.cwd()
        sides = [
            Side("base", cwd, sys.executable, args),
            Side("head", cwd, sys.executable, head_args, head_env),
        ]
        # allow_env_change: calibration judges every pair, a plant included, in calibrate().
        started = time.monotonic()
        result, looks = measure(sides, pair, config, allow_env_change=True, adaptive=adaptive)
        more = f", {len(looks)} looks" if len(looks) > 1 else ""
        # A side's wall time, looks included (both sides run at once): the gate's time goal.
        print(
            f"ormbench: A/A pair {n} written to {pair} ({result.decision}{more}, "
            f"{time.monotonic() - started:.0f} s)",
            file=sys.stderr,
        )


# -- gate-args and gate-run ---------------------------------------------------------------------


def _gate_args_arguments(parser: argparse.ArgumentParser) -> None:
    _config_argument(
        parser, "the gate policy ([run] of ormbench-gate.toml; default ./ormbench-gate.toml)"
    )
    parser.add_argument(
        "--known-options",
        type=Path,
        default=None,
        metavar="HELP",
        help="`pytest --help` of another checkout: leave out the options it does not know "
        "(a base older than them), naming each on stderr",
    )


@command(
    "gate-args",
    "the pytest arguments of one gate side, one per line, from the gate policy",
    _gate_args_arguments,
)
def cmd_gate_args(args: argparse.Namespace, settings: Settings) -> int:
    config = load_config(args.config)
    out = config.run.pytest_args()
    if args.known_options is not None:
        help_text = read_help(args.known_options)
        out, dropped = known_only(out, help_text)
        for option in dropped:
            print(
                f"ormbench: {option} is not an option of that checkout's pytest: left out "
                "(its runs record another protocol, so the gate may not judge timing)",
                file=sys.stderr,
            )
    sys.stdout.write("".join(f"{a}\n" for a in out))
    return 0


def read_help(path: Path) -> str:
    """A ``pytest --help`` text saved to ``path``."""
    try:
        return path.read_text(errors="replace")[: 4 * 1024 * 1024]
    except OSError as exc:
        raise ConfigError(f"--known-options {path}: cannot be read ({exc.strerror})") from None


def known_only(args: Sequence[str], help_text: str) -> tuple[list[str], list[str]]:
    """``args`` without the long options (and their values) that ``help_text`` does not list."""
    out: list[str] = []
    dropped: list[str] = []
    skip_value = False
    for n, arg in enumerate(args):
        if skip_value:
            skip_value = False
            continue
        if arg.startswith("--"):
            name = arg.split("=", 1)[0]
            if re.search(rf"(^|[\s,]){re.escape(name)}([\s=,]|$)", help_text, re.M) is None:
                dropped.append(name)
                has_value = "=" not in arg and n + 1 < len(args)
                skip_value = has_value and not args[n + 1].startswith("-")
                continue
        out.append(arg)
    return out, dropped


def _gate_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base_dir", type=Path, help="the base checkout (with its .venv)")
    parser.add_argument("head_dir", type=Path, help="the head checkout (with its .venv)")
    parser.add_argument("--out", type=Path, required=True, help="directory of runs and logs")
    parser.add_argument(
        "--base-args",
        type=Path,
        default=None,
        help="file of base's pytest arguments, one per line (`ormbench gate-args`); default: "
        "the policy's",
    )
    parser.add_argument("--head-args", type=Path, default=None, help="the same for head")
    parser.add_argument(
        "--no-adaptive", action="store_true", help="one look only: no further rounds"
    )
    _gate_arguments_common(parser)


def _config_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """``--config FILE``, the gate's TOML (``ormbench-gate.toml``), for ``what``."""
    parser.add_argument("--config", type=Path, default=None, help=what)


def _gate_arguments_common(parser: argparse.ArgumentParser) -> None:
    _config_argument(
        parser, "thresholds, policy and budgets (default: ./ormbench-gate.toml, else built-in)"
    )
    parser.add_argument(
        "--allow-env-change",
        action="store_true",
        help="compare even when Python, libraries, server or dataset differ (listed in the report)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the verdicts as JSON")


@command(
    "gate-run",
    "measure base and head taking turns, again for what stays undecided, then gate",
    _gate_run_arguments,
)
def cmd_gate_run(args: argparse.Namespace, settings: Settings) -> int:
    from ormbench.gate.looks import Look, Side, measure

    config = load_config(args.config)
    sides = []
    for name, directory, file in (
        ("base", args.base_dir, args.base_args),
        ("head", args.head_dir, args.head_args),
    ):
        python = directory / ".venv" / "bin" / "python"
        if not python.is_file():
            raise ConfigError(
                f"{directory}: no .venv/bin/python; install the checkout with "
                f"`(cd {directory} && python3 run.py bench --version)`"
            )
        side_args = config.run.pytest_args() if file is None else read_args(file)
        side_args += forwarded_settings(args)
        sides.append(Side(name, directory.resolve(), str(python.absolute()), tuple(side_args)))
    lines: list[str] = []

    def said(look: Look) -> None:
        what = "every benchmark" if look.measured is None else f"{len(look.measured)} undecided"
        line = (
            f"look {look.number}: {what}, {look.seconds:.0f} s; "
            f"{len(look.undecided)} undecided after it"
        )
        lines.append(f"- {line}")
        print(f"ormbench: {line}", file=sys.stderr)

    result, looks = measure(
        sides,
        args.out,
        config,
        allow_env_change=args.allow_env_change,
        adaptive=not args.no_adaptive,
        report=said,
    )
    header = "### Looks (base and head taking turns; further looks: undecided benchmarks only)"
    publish(
        render(result) + "\n" + "\n".join([header, "", *lines]) + "\n",
        args.json,
        {**as_json(result), "looks": [look.__dict__ for look in looks]},
    )
    return result.exit_code


def read_args(path: Path) -> list[str]:
    """Pytest arguments saved one per line (``ormbench gate-args > FILE``)."""
    try:
        return [line for line in path.read_text().splitlines() if line.strip()]
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read pytest arguments ({exc.strerror})") from None
