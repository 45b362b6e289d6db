"""Helpers shared by the tests: run pytest or the ormbench command in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

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


@pytest.fixture
def pg_pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester whose runs load ormbench's fixtures and inherit no ORMBENCH_* variable."""
    for key in list(os.environ):
        if key.startswith("ORMBENCH_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    pytester.makeconftest('pytest_plugins = ["fixtures.postgres"]\n')
    return pytester


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def run_args(*args: str) -> Sequence[str]:
    return args
