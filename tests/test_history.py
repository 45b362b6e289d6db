"""History: steps (sustained, not outliers), trend table, charts, store, exports, compare."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ormbench.errors import UnusableInputError
from ormbench.gate.history import (
    append_run,
    find_steps,
    github_benchmark,
    load_history,
    render_trends,
    sparkline,
    write_charts,
)
from ormbench.gate.runs import load_run
from tests.test_gate import bench, run_doc

STRATEGIES = ("orm_scalars", "core_text", "dbapi_fetchall")


def history_run(n: int, scalars: float) -> dict[str, Any]:
    """Run ``n`` of a history: orm_scalars' ratio as given, the others steady."""
    doc = run_doc(
        *(
            bench(f"canonical-p10-{s}", ratio=scalars if s == "orm_scalars" else 1.1, seed=n)
            for s in STRATEGIES
        )
    )
    doc["datetime"] = f"2026-11-{n + 1:02d}T12:00:00+00:00"
    doc["commit_info"]["id"] = f"{n:07x}" + "0" * 33
    return doc


@pytest.fixture
def store(tmp_path: Path) -> Callable[[list[float]], Path]:
    """A directory of runs whose orm_scalars ratios are the given series."""

    def make(ratios: list[float]) -> Path:
        directory = tmp_path / "runs"
        directory.mkdir(exist_ok=True)
        for n, ratio in enumerate(ratios):
            (directory / f"run-{n:02d}.json").write_text(json.dumps(history_run(n, ratio)))
        return directory

    return make


def test_sustained_change_is_a_step() -> None:
    """Five runs at 1.5 then four at 1.8: one step, at the first run at 1.8."""
    (step,) = find_steps([1.5, 1.51, 1.49, 1.5, 1.5, 1.8, 1.79, 1.81, 1.8], threshold=0.1)
    assert step.index == 5
    assert step.change == pytest.approx(0.2, abs=0.01)


def test_single_outlier_is_not_a_step() -> None:
    """One wild run between steady ones is not a step."""
    assert find_steps([1.5, 1.5, 1.5, 2.5, 1.5, 1.5, 1.5], threshold=0.1) == []


def test_step_at_the_newest_run_waits_for_confirmation() -> None:
    """A change seen in the newest run only is not yet sustained; two runs confirm it."""
    assert find_steps([1.5, 1.5, 1.5, 1.5, 1.9], threshold=0.1) == []
    assert [s.index for s in find_steps([1.5, 1.5, 1.5, 1.5, 1.9, 1.9], threshold=0.1)] == [4]


def test_small_drift_is_not_a_step() -> None:
    """Changes under the threshold never make a step, however sustained."""
    assert find_steps([1.5, 1.5, 1.5, 1.55, 1.55, 1.55], threshold=0.1) == []


def test_missing_runs_are_skipped() -> None:
    """A benchmark absent from some runs: the gaps are ignored, the step still found."""
    steps = find_steps([1.5, None, 1.5, 1.5, 1.8, None, 1.8, 1.8], threshold=0.1)
    assert [s.index for s in steps] == [4]
    assert sparkline([1.0, None, 2.0])[1] == " "


def test_trend_table_flags_the_step(store: Callable[[list[float]], Path]) -> None:
    """The trend table lists every benchmark and flags orm_scalars' step with its run."""
    runs, skipped = load_history([store([1.5] * 5 + [1.8] * 4)])
    text = render_trends(runs, threshold=0.1)
    assert "9 runs, 3 benchmarks" in text
    assert "1 benchmark(s) with a ratio step**: `canonical-p10-orm_scalars`" in text
    assert "at 0000005" in text
    assert skipped == []


def test_last_keeps_the_newest_runs(store: Callable[[list[float]], Path]) -> None:
    """--last N keeps the newest N runs, in time order."""
    runs, _ = load_history([store([1.5, 1.6, 1.7, 1.8])], last=2)
    assert [r.benchmarks["canonical-p10-orm_scalars"].extra["ratio"]["median"] for r in runs] == [
        1.7,
        1.8,
    ]


def test_unusable_files_are_skipped_and_counted(
    store: Callable[[list[float]], Path], tmp_path: Path
) -> None:
    """A truncated file among the runs is skipped and reported; no runs at all is an error."""
    directory = store([1.5, 1.5])
    (directory / "broken.json").write_text('{"benchmarks": [')
    runs, skipped = load_history([directory])
    assert len(runs) == 2 and len(skipped) == 1 and "truncated" in skipped[0]
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "x.json").write_text("{}")
    with pytest.raises(UnusableInputError, match="no ormbench runs"):
        load_history([empty])


def test_charts_are_pngs_per_scenario(store: Callable[[list[float]], Path], tmp_path: Path) -> None:
    """One PNG per scenario, written without a display (Agg)."""
    runs, _ = load_history([store([1.5, 1.5, 1.8])])
    (path,) = write_charts(runs, tmp_path / "charts")
    assert path.name == "canonical.png" and path.parent.name.startswith("dataset-abc123de-env")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_github_benchmark_format(store: Callable[[list[float]], Path]) -> None:
    """customSmallerIsBetter entries: name, unit, value, range; the floor is left out."""
    runs, _ = load_history([store([1.5])])
    entries = github_benchmark(runs[-1])
    assert [e["name"] for e in entries] == ["canonical-p10-orm_scalars", "canonical-p10-core_text"]
    assert set(entries[0]) == {"name", "unit", "value", "range", "extra"}
    assert entries[0]["value"] == 1.5 and entries[0]["unit"] == "x dbapi_fetchall"


def test_store_append_prune_and_compare(tmp_path: Path) -> None:
    """Appended runs are named by time and commit, pruned to --keep, and still readable by
    `pytest-benchmark compare`."""
    for n in range(3):
        src = tmp_path / f"src-{n}.json"
        src.write_text(json.dumps(history_run(n, 1.5)))
        append_run(src, tmp_path / "store", keep=2)
    kept = sorted((tmp_path / "store").glob("*.json"))
    assert [p.name for p in kept] == [
        "20261102T120000_0000001.json",
        "20261103T120000_0000002.json",
    ]
    assert "sql" not in load_run(kept[0]).benchmarks["canonical-p10-orm_scalars"].extra
    compare = shutil.which("pytest-benchmark", path=str(Path(sys.executable).parent))
    assert compare is not None
    result = subprocess.run([compare, "compare", *map(str, kept)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "orm_scalars" in result.stdout


def test_history_command(
    run_cli: Callable[..., Any], store: Callable[[list[float]], Path], tmp_path: Path
) -> None:
    """`ormbench history DIR --charts --github-benchmark` prints trends, writes files."""
    directory = store([1.5] * 4 + [1.9] * 3)
    gab = tmp_path / "gab.json"
    result = run_cli(
        "history", str(directory), "--charts", str(tmp_path / "c"), "--github-benchmark", str(gab)
    )
    assert result.returncode == 0, result.stderr
    assert "ratio step" in result.stdout and "canonical-p10-orm_scalars" in result.stdout
    assert [p.name for p in (tmp_path / "c").glob("*/*.png")] == ["canonical.png"]
    assert json.loads(gab.read_text())[0]["value"] == 1.9
    bad = run_cli("history", str(directory), "--last", "0")
    assert bad.returncode == 2 and bad.stderr.startswith("ormbench: --last 0")


# -- 60 runs of two datasets, in commit order ---------------------------------------------------

# A real run of the gate subset (tests/data/gate/README.md): its structure is what each of the
# 60 runs below copies, with its ratios replaced by a planted series.
REAL_RUN = Path(__file__).parent / "data" / "gate" / "4c6a4bf-tiny.json"
# Planted: orm_scalars at page size 10 rises 25% at commit 12 (tiny dataset); core_text at
# page size 100 falls 20% at commit 45 (ci dataset); the dataset changes at commit 30, where
# every ratio moves 30% (a "step" only if the two datasets were drawn as one series).
STEP_UP, STEP_DOWN, DATASET_CHANGE, RUNS = 12, 45, 30, 60


def planted_ratio(name: str, n: int) -> float:
    """The planted median ratio of benchmark ``name`` at commit ``n``."""
    ratio = {"orm_scalars": 1.6, "core_text": 1.2, "dbapi_fetchall": 1.0}[name.split("-")[2]]
    if name.endswith("dbapi_fetchall"):
        return 1.0
    if n >= DATASET_CHANGE:
        ratio *= 1.3
    if name == "canonical-p10-orm_scalars" and n >= STEP_UP:
        ratio *= 1.25
    if name == "canonical-p100-core_text" and n >= STEP_DOWN:
        ratio *= 0.8
    return ratio


@pytest.fixture(scope="module")
def sixty_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[str]]:
    """A git repository of 60 first-parent commits and one run of each, run out of order."""
    import random
    import statistics

    root = tmp_path_factory.mktemp("sixty")
    repo, runs_dir = root / "repo", root / "runs"
    runs_dir.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    commits, times = [], []
    for n in range(RUNS):
        when = f"2026-{9 + n // 28:02d}-{n % 28 + 1:02d}T10:00:00+00:00"
        env = {"GIT_COMMITTER_DATE": when, "GIT_AUTHOR_DATE": when}
        subprocess.run(
            [*git, "commit", "-q", "--allow-empty", "-m", f"c{n}"],
            check=True,
            env={**os.environ, **env},
        )
        sha = subprocess.run(
            [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        commits.append(sha)
        times.append(when)
    template = json.loads(REAL_RUN.read_text())
    order = list(range(RUNS))
    random.Random(7).shuffle(order)  # when each commit's run ran: not commit order
    for ran, n in enumerate(order):
        doc = json.loads(json.dumps(template))
        rng = random.Random(n)
        # As pytest-benchmark records it: the commit's time, then when the run ran.
        doc["commit_info"] = {"id": commits[n], "branch": "main", "dirty": False, "time": times[n]}
        doc["datetime"] = f"2026-12-{ran // 24 + 1:02d}T{ran % 24:02d}:00:00+00:00"
        for raw in doc["benchmarks"]:
            extra, name = raw["extra_info"], raw["param"]
            if n >= DATASET_CHANGE:
                extra["dataset"], extra["dataset_profile"] = "f00dfeed0001", "ci"
            target = planted_ratio(name, n) * math.exp(rng.gauss(0, 0.01))
            scale = target / statistics.median(extra["ratio_samples"])
            extra["ratio_samples"] = [x * scale for x in extra["ratio_samples"]]
            extra["ratio"] = {
                **extra["ratio"],
                "median": target,
                "ci_low": target * 0.98,
                "ci_high": target * 1.02,
            }
        (runs_dir / f"ran-{ran:02d}.json").write_text(json.dumps(doc))
    return repo, runs_dir, commits


def test_sixty_runs_two_datasets_steps_at_their_commits(
    sixty_runs: tuple[Path, Path, list[str]], tmp_path: Path
) -> None:
    """60 runs of two datasets: two series in commit order, the planted steps found at their
    commits, none at the dataset change, one chart per scenario and dataset."""
    from ormbench.gate.history import chart_steps, group_series, x_labels

    repo, runs_dir, commits = sixty_runs
    runs, skipped = load_history([runs_dir], git_repo=repo, branch="main")
    assert skipped == []
    assert [r.commit_info["id"] for r in runs] == commits
    by_time, _ = load_history([runs_dir])  # no repository: the recorded commit times
    assert [r.commit_info["id"] for r in by_time] == commits
    groups = group_series(runs)
    assert [(k.dataset, len(g)) for k, g in groups.items()] == [
        ("tiny-e8011c56", DATASET_CHANGE),
        ("ci-f00dfeed", RUNS - DATASET_CHANGE),
    ]
    found = {
        series: sorted((name, groups_runs_commit(groups, series, s.index)) for name, s in steps)
        for series, steps in chart_steps(runs).items()
    }
    tiny, ci = (k.name for k in groups)
    assert found == {
        tiny: [("canonical-p10-orm_scalars", commits[STEP_UP])],
        ci: [("canonical-p100-core_text", commits[STEP_DOWN])],
    }
    labels = x_labels(runs)
    assert len(set(labels)) == RUNS and labels[0] == f"{commits[0][:7]} 09-01"
    paths = write_charts(runs, tmp_path / "charts")
    assert sorted(str(p.relative_to(tmp_path / "charts")) for p in paths) == [
        f"{ci}/canonical.png",
        f"{tiny}/canonical.png",
    ]


def groups_runs_commit(groups: dict[Any, list[Any]], series: str, index: int) -> str:
    """The commit of run ``index`` of the series named ``series``."""
    (group,) = [g for k, g in groups.items() if k.name == series]
    return str(group[index].commit_info["id"])


def test_history_command_orders_by_first_parent_history(
    run_cli: Callable[..., Any], sixty_runs: tuple[Path, Path, list[str]], tmp_path: Path
) -> None:
    """`ormbench history --git-repo --branch`: two series, steps named by commit; a run of a
    commit off the branch's first-parent history is left out and counted."""
    repo, runs_dir, commits = sixty_runs
    result = run_cli(
        "history", str(runs_dir), "--git-repo", str(repo), "--charts", str(tmp_path / "c")
    )
    assert result.returncode == 0, result.stderr
    assert "60 runs in 2 series" in result.stdout
    assert f"at {commits[STEP_UP][:7]}" in result.stdout
    assert f"at {commits[STEP_DOWN][:7]}" in result.stdout
    assert f"at {commits[DATASET_CHANGE][:7]}" not in result.stdout
    assert len(list((tmp_path / "c").glob("*/canonical.png"))) == 2
    bad = run_cli("history", str(runs_dir), "--git-repo", str(tmp_path))
    assert bad.returncode == 2 and "--git-repo" in bad.stderr and "\n" not in bad.stderr.strip()
