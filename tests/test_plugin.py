"""The pytest plugin works from any repository: installed from a wheel into a fresh virtual
environment, a scratch project's own strategy is benchmarked with the plugin's fixtures and
saves the paired ratio; and the opt-in markers follow the evaluated ``-m`` expression."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.cli import REPO
from ormbench.pg import PgServer
from ormbench.plugin import opted_out
from ormbench.workspace import Workspace

OPT_IN = {"large", "infra"}


@pytest.mark.parametrize(
    ("markexpr", "markers", "off"),
    [
        ("", {"gate"}, False),  # no opt-in marker: never touched
        ("", {"large"}, True),  # off by default
        ("large", {"large"}, False),
        ("large or gate", {"large"}, False),
        ("not gate", {"large"}, True),  # selected, but not by asking for large
        ("not largeish", {"large"}, True),  # naming a longer marker does not select large
        ("infra", {"infra", "large"}, True),  # every opt-in marker must be asked for
        ("infra and large", {"infra", "large"}, False),
    ],
)
def test_opt_in_follows_the_evaluated_expression(markexpr: str, markers: set, off: bool) -> None:
    """An opt-in test runs only when the -m expression needs each of its opt-in markers."""
    assert opted_out(markexpr, markers, OPT_IN) is off


STRATEGY = '''
"""A strategy of the scratch project, registered with ormbench."""

from ormbench.query.build import page_select, total_select
from ormbench.query.spec import ContentRequest, Page
from ormbench.strategies import StrategyContext, register


@register
def scratch_core_rows(ctx: StrategyContext, req: ContentRequest) -> Page:
    """Core select, rows as tuples (the scratch project's own)"""
    with ctx.engine.connect() as conn:
        rows = tuple(tuple(row) for row in conn.execute(page_select(req)))
        total = conn.execute(total_select(req)).scalar_one() if req.with_total else None
    return Page(req.columns, rows, total)
'''

BENCHMARK = """
from ormbench.measure.paired import Case


def test_scratch(bench_page):
    bench_page(Case("canonical", 10, "scratch_core_rows"))
"""


def _run(args: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORMBENCH_", "PYTHON"))}
    env.pop("VIRTUAL_ENV", None)
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{args}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="session")
def installed_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment (no system site-packages) holding ormbench installed from a
    wheel of this checkout, its dependencies pinned by constraints.txt."""
    root = tmp_path_factory.mktemp("ormbench-venv")
    # Built from a copy: an in-tree build would leave build/ and *.egg-info in the checkout.
    src = root / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(
        REPO / "ormbench", src / "ormbench", ignore=shutil.ignore_patterns("__pycache__")
    )
    wheels = root / "wheels"
    pip = ["-m", "pip", "-q", "--disable-pip-version-check"]
    _run([sys.executable, *pip, "wheel", "--no-deps", "-w", str(wheels), str(src)], root, 300)
    _run([sys.executable, "-m", "venv", str(root / "venv")], root, 120)
    python = root / "venv" / "bin" / "python"
    constraints = str(REPO / "constraints.txt")
    _run(
        [str(python), *pip, "install", "-c", constraints, "--find-links", str(wheels), "ormbench"],
        root,
        600,
    )
    return python


def test_scratch_project_benchmarks_its_own_strategy(
    installed_python: Path,
    tmp_path_factory: pytest.TempPathFactory,
    seeded: Callable[[str], Workspace],
    pg_server: PgServer,
) -> None:
    """A project with no file of ours runs ``pytest --benchmark-only`` on its own strategy with
    the plugin's ``bench_page``; the saved figure carries the paired ratio to the floor."""
    seeded("tiny")
    project = tmp_path_factory.mktemp("scratch-project")
    assert REPO not in project.parents
    (project / "scratch_strategies.py").write_text(textwrap.dedent(STRATEGY))
    (project / "test_scratch_bench.py").write_text(textwrap.dedent(BENCHMARK))
    out = project / "figures.json"
    proc = _run(
        [
            str(installed_python), "-m", "pytest", "--benchmark-only", "-p", "no:cacheprovider",
            "--strategies-from=scratch_strategies", f"--pg-url={pg_server.url}",
            "--pg-schema=ormbench_tiny", "--dataset=tiny", "--round-budget=0.1",
            f"--benchmark-json={out}", "test_scratch_bench.py",
        ],
        project,
        300,
    )  # fmt: skip
    assert "1 passed" in proc.stdout, proc.stdout
    # The plugin came from the fresh environment, not from this checkout.
    where = _run(
        [str(installed_python), "-c", "import ormbench; print(ormbench.__file__)"], project, 60
    )
    assert Path(where.stdout.strip()).is_relative_to(installed_python.parent.parent)
    (bench,) = json.loads(out.read_text())["benchmarks"]
    info = bench["extra_info"]
    assert info["strategy"] == "scratch_core_rows"
    assert info["ratio"]["ci_low"] <= info["ratio"]["median"] <= info["ratio"]["ci_high"]
    assert len(info["ratio_samples"]) == bench["stats"]["rounds"]
    # The one observe step records each statement's plan mode for this strategy too.
    assert len(info["plan_modes"]) == info["statements"] >= 1
    assert "ormbench: median ratio to dbapi_fetchall" in proc.stdout
