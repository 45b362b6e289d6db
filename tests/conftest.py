"""Helpers shared by the tests: run pytest or the ormbench command in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.dataset import Seeded
from ormbench.config import Settings
from ormbench.pg import PgServer

REPO = Path(__file__).resolve().parent.parent


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment of a child run: this repo importable, no ormbench settings inherited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORMBENCH_")}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


@pytest.fixture
def run_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``ormbench ARGS`` in a subprocess and return the completed process."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120):
        return subprocess.run(
            [sys.executable, "-m", "ormbench", *args],
            capture_output=True,
            text=True,
            env=env or subprocess_env(),
            timeout=timeout,
        )

    return run


@pytest.fixture(scope="module")
def tiny_cli_args(
    seeded: Callable[[str], Seeded], pg_server: PgServer, ormbench_settings: Settings
) -> list[str]:
    """CLI options reaching the session's server and its seeded tiny dataset (no reseeding)."""
    seeded("tiny")
    return [
        f"--pg-url={pg_server.url}",
        f"--pg-schema={ormbench_settings.pg_schema}_tiny",
        "--dataset=tiny",
    ]


@pytest.fixture
def pg_pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester whose runs load ormbench's fixtures and inherit no ORMBENCH_* variable."""
    for key in list(os.environ):
        if key.startswith("ORMBENCH_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    pytester.makeconftest('pytest_plugins = ["fixtures.postgres"]\n')
    return pytester


# Tests whose verdict rests on timing (the gate's timing tier on planted runs). On a shared
# machine a timing verdict is probabilistic (A/A false alarms 0.46% per benchmark on a quiet
# machine, 2% under load, docs/gate.md), so they run when selected:
# pytest tests/test_gate_planted.py -m gate_timing.
OPT_IN_MARKERS = ("gate_timing",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    selected = config.getoption("markexpr") or ""
    keep = [
        i
        for i in items
        if not any(i.get_closest_marker(m) and m not in selected for m in OPT_IN_MARKERS)
    ]
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
