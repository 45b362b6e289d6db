"""The response matrix: ids, the --response axis in every layer, and the recommendation."""

from __future__ import annotations

import json
import math

import pytest

from fixtures.cli import REPO, on_tiny, run_benchmarks
from fixtures.matrix import GATE_PAGE_SIZES, GATE_SCENARIOS
from ormbench.report.recommend import recommend, render_recommendation
from ormbench.report.summary import render_summary
from ormbench.response.measure import ResponseCase
from ormbench.response.paths import PATHS

# The repository's wiring (benchmarks/conftest.py) and its opt-in markers (pyproject.toml).
PLUGINS = (REPO / "benchmarks" / "conftest.py").read_text()
OPT_IN = "ormbench_opt_in_markers = large responses infra pathology\n"


def _wire(pytester: pytest.Pytester) -> None:
    """The repository's wiring in ``pytester``'s directory, keeping any ini the test wrote."""
    pytester.makeconftest(PLUGINS)
    ini = pytester.path / "tox.ini"
    written = ini.read_text() if ini.exists() else "[pytest]"
    if OPT_IN.split("=")[0] not in written:
        pytester.makeini(written.rstrip() + "\n" + OPT_IN)


APP_PATHS = [p.name for p in PATHS if p.app]


def test_ids_extend_the_page_matrix() -> None:
    """Ids read canonical-p10-<strategy>-<response>[-app]; one group per (scenario, size)."""
    case = ResponseCase("canonical", 10, "orm_scalars-pydantic")
    assert (case.id, case.group) == ("canonical-p10-orm_scalars-pydantic", "canonical-p10-response")
    app = ResponseCase("rare_tag", 100, "dbapi_server_json-server", app=True, loader="orjson")
    assert app.id == "rare_tag-p100-orjson-dbapi_server_json-server-app"
    assert app.strategy == "dbapi_server_json-server-app"


def _collect(pytester: pytest.Pytester, *args: str) -> list[str]:
    _wire(pytester)
    pytester.makepyfile(test_responses=(REPO / "benchmarks" / "test_responses.py").read_text())
    result = pytester.runpytest_subprocess("--collect-only", "-q", "-p", "no:cacheprovider", *args)
    assert result.ret == 0, result.stdout.str()[-2000:] + result.stderr.str()[-2000:]
    lines = [line for line in result.stdout.lines if "::test_response[" in line]
    return [line.split("[", 1)[1].rstrip("]") for line in lines]


def test_default_axis_is_every_response_and_the_app(pg_pytester: pytest.Pytester) -> None:
    """By default every path, plus the app variant of app paths, on the gated requests;
    ``-m responses`` adds every other scenario and default page size."""
    per_group = len(PATHS) + len(APP_PATHS)
    ids = _collect(pg_pytester)
    assert len(ids) == len(GATE_SCENARIOS) * len(GATE_PAGE_SIZES) * per_group
    assert {i.split("-p")[0] for i in ids} == set(GATE_SCENARIOS)
    rest = _collect(pg_pytester, "-m", "responses")
    assert len(rest) == (10 * 4 - len(GATE_SCENARIOS) * len(GATE_PAGE_SIZES)) * per_group
    assert not set(rest) & set(ids)
    assert "canonical-p10-orm_scalars-pydantic" in ids
    assert "canonical-p10-orm_scalars-pydantic-app" in ids
    assert not [i for i in ids if "-p1000-" in i]


def test_response_option_selects_renderings(pg_pytester: pytest.Pytester) -> None:
    """--response orjson: only orjson paths, no app; "app" adds the end-to-end variants."""
    ids = _collect(pg_pytester, "--response=orjson", "-k", "canonical-p10-")
    orjson = [p.name for p in PATHS if p.response == "orjson"]
    assert sorted(ids) == sorted(f"canonical-p10-{n}" for n in orjson)
    with_app = _collect(pg_pytester, "--response=orjson,app", "-k", "canonical-p10-")
    expected = orjson + [f"{p.name}-app" for p in PATHS if p.response == "orjson" and p.app]
    assert sorted(with_app) == sorted(f"canonical-p10-{n}" for n in expected)


def test_response_from_env_and_ini(pg_pytester: pytest.Pytester, monkeypatch) -> None:
    """ORMBENCH_RESPONSE beats the ini key response, which beats the default."""
    pg_pytester.makeini("[pytest]\nresponse = server\n")
    ids = _collect(pg_pytester, "-k", "canonical-p10-")
    assert ids == ["canonical-p10-dbapi_server_json-server"]
    monkeypatch.setenv("ORMBENCH_RESPONSE", "pydantic_jsonresponse")
    assert _collect(pg_pytester, "-k", "canonical-p10-") == [
        "canonical-p10-orm_scalars-pydantic_jsonresponse"
    ]


def test_unknown_response_is_a_usage_error(pg_pytester: pytest.Pytester) -> None:
    """An unknown rendering is one line naming the choices, exit code 4."""
    _wire(pg_pytester)
    result = pg_pytester.runpytest_subprocess("--collect-only", "--response=xml")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*unknown value 'xml' for --response; choose one of: pydantic*"])


def _result(strategy: str, median: float, size: int = 10, **extra: object) -> dict:
    ratio = {"median": median, "ci_low": median - 0.05, "ci_high": median + 0.05, "n": 40}
    return {
        "scenario": "canonical",
        "page_size": size,
        "json_loader": "json",
        "strategy": strategy,
        "ratio": ratio,
        "statements": 1,
        **extra,
    }


RESULTS = [
    _result("dbapi_fetchall", 1.0, full_page=True),
    _result("orm_scalars", 1.7, full_page=True),
    _result("orm_load_only", 1.1, full_page=False),
    _result("orm_columns_reused", 1.3, full_page=True),
    _result("core_text", 1.14, full_page=True),
    _result("orm_scalars-pydantic", 2.4, level="response", app=False),
    _result("dbapi_fetchall-orjson", 1.0, level="response", app=False),
    _result("dbapi_server_json-server", 0.8, level="response", app=False),
    _result("orm_scalars-pydantic-app", 3.1, level="response", app=True),
    _result("dbapi_server_json-server-app", 1.9, level="response", app=True),
    _result("core_text", math.nan, size=100, full_page=True),
]


def test_recommendation_ranks_correct_full_pages_against_production() -> None:
    """The fastest full page per level (never the floor, never a partial page), next to the
    production path of the level; a cell without a finite ratio recommends nothing."""
    picks = {p.level: p for p in recommend(RESULTS)[("canonical", 10, "json")]}
    assert picks["page"].fastest["strategy"] == "core_text"
    assert picks["page, ORM"].fastest["strategy"] == "orm_columns_reused"
    assert picks["page"].production["strategy"] == "orm_scalars"
    assert picks["response"].fastest["strategy"] == "dbapi_server_json-server"
    assert picks["response"].speedup == pytest.approx(3.0)
    assert picks["response, app"].production["strategy"] == "orm_scalars-pydantic-app"
    assert picks["page"].tied == () and picks["page"].production_is_slower
    assert ("canonical", 100, "json") not in recommend(RESULTS)
    close = [*RESULTS, _result("core_reused", 1.16, full_page=True)]
    page = recommend(close)[("canonical", 10, "json")][0]
    assert (page.fastest["strategy"], page.tied) == ("core_text", ("core_reused",))
    text = render_recommendation(RESULTS)
    assert "canonical  p10   response       dbapi_server_json-server      0.80 [0.75-0.85]" in text
    slow = [*RESULTS, _result("orm_scalars-pydantic", 0.9, size=100, level="response")]
    slow.append(_result("dbapi_server_json-server", 0.85, size=100, level="response"))
    assert "0.90 [0.85-0.95]  1.06?" in render_recommendation(slow)  # overlapping: INCONCLUSIVE


def test_summary_keeps_levels_apart() -> None:
    """Page tables hold strategies only; responses get their own table; the recommendation
    follows both."""
    text = render_summary(RESULTS)
    page_table, rest = text.split("canonical responses, ratio to dbapi_fetchall-orjson")
    assert "orm_scalars-pydantic" not in page_table
    assert "dbapi_server_json-server-app" in rest
    assert rest.index("recommendation") > rest.index("dbapi_server_json-server-app")
    assert render_recommendation([]) == ""


@pytest.mark.slow
def test_one_response_group_runs_and_saves_figures(pg_server, tmp_path) -> None:
    """One group on tiny: every selected path benchmarked against the floor's body, extra_info
    complete, the recommendation printed."""
    report = tmp_path / "run.json"
    out = run_benchmarks(
        "benchmarks/test_responses.py",
        report,
        "-k",
        "canonical-p10-",
        "--response=orjson,server,app",
        "--round-budget=0.1",
        *on_tiny(pg_server),
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "recommendation: the fastest correct path" in out.stdout
    doc = json.loads(report.read_text())
    infos = {b["extra_info"]["strategy"]: b["extra_info"] for b in doc["benchmarks"]}
    assert "dbapi_server_json-server-app" in infos and "dbapi_fetchall-orjson" in infos
    for name, info in infos.items():
        assert info["level"] == "response" and info["floor"] == "dbapi_fetchall-orjson"
        assert info["rows"] == 10 and info["body_bytes"] > 1000, name
        assert info["statements"] == 1, name
