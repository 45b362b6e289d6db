"""pytest-benchmark's own options work on ormbench's benchmarks as its users expect."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable

import pytest

from fixtures.cli import REPO, run_pytest
from ormbench.pg import PgServer
from ormbench.strategies import STRATEGIES
from ormbench.workspace import Workspace

STRATEGIES_FILE = str(REPO / "benchmarks" / "test_strategies.py")
TWO_CASES = "(canonical-p10-orm_scalars or canonical-p10-core_text) and not reused"


@pytest.fixture
def bench_pytester(
    pg_pytester: pytest.Pytester,
    seeded: Callable[[str], Workspace],
    pg_server: PgServer,
) -> Callable[..., pytest.RunResult]:
    """Run ormbench's benchmark file from a fresh directory (its own .benchmarks storage) on
    the session's server and its seeded tiny dataset."""
    seeded("tiny")

    def run(*args: str) -> pytest.RunResult:
        return pg_pytester.runpytest_subprocess(
            STRATEGIES_FILE,
            "-p",
            "no:cacheprovider",
            f"--pg-url={pg_server.url}",
            "--pg-schema=ormbench_tiny",
            "--dataset=tiny",
            "--round-budget=0.1",
            *args,
            timeout=600,
        )

    return run


def test_benchmark_disable_runs_every_case_once(bench_pytester):
    """--benchmark-disable: each case runs once with its page checked, no error, nothing timed."""
    result = bench_pytester("-k", "canonical-p10-", "--benchmark-disable")
    result.assert_outcomes(passed=len(STRATEGIES))
    assert "AttributeError" not in result.stdout.str()
    assert "median ratio to dbapi_fetchall" not in result.stdout.str()


def test_saved_runs_compare_group_and_gate(bench_pytester, pytester, run_cli):
    """Params are saved as plain values (group-by param:strategy, one histogram per strategy);
    comparing with a saved run does not warn that machine_info differs; --ormbench-compare
    ends the session with the gate's report; `ormbench gate` reads storage ids."""
    pygal = importlib.util.find_spec("pygal") is not None
    histogram = [f"--benchmark-histogram={pytester.path / 'h'}"] if pygal else []
    first = bench_pytester(
        "-k", TWO_CASES, "--benchmark-only", "--benchmark-autosave",
        "--benchmark-group-by=param:strategy", *histogram,
    )  # fmt: skip
    first.assert_outcomes(passed=2)
    assert "benchmark 'strategy=orm_scalars'" in first.stdout.str()
    saved = list(pytester.path.glob(".benchmarks/*/0001_*.json"))
    assert len(saved) == 1
    params = {b["param"]: b["params"] for b in json.loads(saved[0].read_text())["benchmarks"]}
    assert params["canonical-p10-orm_scalars"] == {
        "scenario": "canonical",
        "page_size": 10,
        "strategy": "orm_scalars",
        "loader": "json",
    }
    if pygal:  # the `histogram` extra, installed by run.py
        assert sorted(p.name for p in pytester.path.glob("h-*.svg")) == [
            "h-strategy=core_text.svg",
            "h-strategy=orm_scalars.svg",
        ]

    second = bench_pytester(
        "-k", TWO_CASES, "--benchmark-only", "--benchmark-autosave",
        "--benchmark-compare=0001", "--ormbench-compare=0001",
    )  # fmt: skip
    second.assert_outcomes(passed=2)
    output = second.stdout.str() + second.stderr.str()
    assert "Comparing against benchmarks from" in output
    assert "machine_info is different" not in output
    out = second.stdout.str()
    assert "## ormbench gate:" in out
    assert out.index("median ratio to dbapi_fetchall") < out.index("ormbench gate: 0001 vs")
    # 1 only on a regression the gate found, 5 when it could not decide every benchmark.
    assert second.ret in (0, 1, 5)
    assert ("INCONCLUSIVE" in out) == (second.ret == 5)

    storage = str(pytester.path / ".benchmarks")
    gate = run_cli("gate", "0001", "0002", "--benchmark-storage", storage)
    assert gate.returncode in (0, 1, 5), gate.stdout + gate.stderr
    assert gate.stdout.startswith("## ormbench gate:")
    missing = run_cli("gate", "0009", "0002", "--benchmark-storage", storage)
    assert missing.returncode == 4
    assert "no run 0009" in missing.stderr and "--benchmark-autosave" in missing.stderr


def test_round_options_are_refused_naming_ormbenchs_own(pg_pytester):
    """pytest-benchmark's round options are refused, one line each naming what applies."""
    result = pg_pytester.runpytest_subprocess(
        STRATEGIES_FILE, "-p", "no:cacheprovider", "--benchmark-only",
        "--benchmark-min-rounds=50", "--benchmark-max-time=2", "--benchmark-warmup=on",
        timeout=120,
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    prefix = "does not apply to ormbench's paired benchmarks"
    result.stderr.re_match_lines(
        [
            f"ERROR: --benchmark-min-rounds {prefix}: use --min-rounds N",
            f"--benchmark-max-time {prefix}: use --round-budget SECONDS",
            f"--benchmark-warmup {prefix}: ormbench warms every case up before its rounds",
        ]
    )


def test_readme_k_example_selects_one_page_size():
    """`-k "canonical-p10-"` (the README's example) selects p10, not p100."""
    out = run_pytest(STRATEGIES_FILE, "--collect-only", "-q", "-k", "canonical-p10-", timeout=120)
    ids = [line for line in out.stdout.splitlines() if "::test_page[" in line]
    assert ids and all("[canonical-p10-" in i for i in ids), out.stdout[-2000:]
