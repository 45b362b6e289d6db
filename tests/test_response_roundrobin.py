"""``ormbench compare --responses``: response paths in the same rounds, and the recommendation."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

from ormbench.response.paths import FLOOR_PATH, PATHS

RunCli = Callable[..., subprocess.CompletedProcess[str]]


def test_compare_responses_json(run_cli: RunCli, tiny_cli_args: list[str]) -> None:
    """--response server,orjson: those paths and the floor path, ratios to it, a recommendation
    per level naming the production path."""
    result = run_cli(
        "compare",
        *tiny_cli_args,
        "--scenario=canonical",
        "--page-size=10",
        "--strategies=orm_scalars,orm_load_only,core_reused",
        "--responses",
        "--response=server,orjson",
        "--rounds=6",
        "--json",
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    names = {r["strategy"]: r for r in doc["responses"]}
    expected = {p.name for p in PATHS if p.response in ("server", "orjson")}
    assert set(names) == expected | {FLOOR_PATH}
    assert names[FLOOR_PATH]["ratio"]["median"] == 1.0
    full = {r["strategy"]: r["full_page"] for r in doc["strategies"]}
    assert full == {
        "orm_scalars": True,
        "orm_load_only": False,
        "core_reused": True,
        "dbapi_fetchall": True,
    }
    levels = {pick["level"]: pick for pick in doc["recommendation"]}
    assert levels["page"]["fastest"] in ("orm_scalars", "core_reused")  # never a partial page
    assert levels["page"]["production"] == "orm_scalars"
    assert levels["response"]["fastest"] in expected
    assert levels["response"]["production"] is None  # pydantic was not selected


def test_compare_responses_text(run_cli: RunCli, tiny_cli_args: list[str]) -> None:
    """The text output adds the response table and the recommendation table."""
    result = run_cli(
        "compare",
        *tiny_cli_args,
        "--strategies=orm_scalars",
        "--responses",
        "--response=pydantic,app",
        "--rounds=6",
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "responses, ratio to dbapi_fetchall-orjson in the same rounds" in out
    assert "orm_scalars-pydantic-app" in out
    assert "recommendation: the fastest correct path, next to production" in out
    assert "canonical  p10   response, app" in out
