"""The benchmark matrix runs end to end on tiny, records its figures and prints the summary."""

from __future__ import annotations

import json

import pytest

from fixtures.cli import on_tiny, run_benchmarks, run_pytest
from ormbench.measure.paired import FLOOR, Case
from ormbench.strategies import STRATEGIES


def test_matrix_ids_and_groups():
    """Ids read like canonical-p10-orm_scalars and groups gather one (scenario, page size)."""
    case = Case("canonical", 10, "orm_scalars")
    assert (case.id, case.group) == ("canonical-p10-orm_scalars", "canonical-p10")
    orjson_case = Case("rare_tag", 100, "core_text", "orjson")
    assert orjson_case.id == "rare_tag-p100-orjson-core_text"


def test_collection_covers_the_matrix():
    """Default collection: 10 scenarios x 4 page sizes x every strategy; p1000 is opt-in."""
    out = run_pytest("benchmarks/test_strategies.py", "--collect-only", "-q", timeout=120)
    ids = [line for line in out.stdout.splitlines() if "::test_page[" in line]
    assert len(ids) == 10 * 4 * len(STRATEGIES), out.stdout[-2000:]
    assert not [i for i in ids if "-p1000-" in i]
    assert "benchmarks/test_strategies.py::test_page[canonical-p10-orm_scalars]" in ids


@pytest.mark.slow
def test_one_group_runs_and_saves_figures(pg_server, tmp_path):
    """One group on tiny: every strategy benchmarked, extra_info complete, summary printed."""
    report = tmp_path / "run.json"
    out = run_benchmarks(
        "benchmarks/test_strategies.py",
        report,
        "-k",
        "canonical-p10-",
        *on_tiny(pg_server),
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "ormbench: median ratio to dbapi_fetchall" in out.stdout
    doc = json.loads(report.read_text())
    benches = {b["extra_info"]["strategy"]: b for b in doc["benchmarks"]}
    assert set(benches) == set(STRATEGIES)
    for name, bench in benches.items():
        info = bench["extra_info"]
        assert info["rows"] == 10
        assert info["statements"] == 1, name
        assert len(info["ratio_samples"]) == bench["stats"]["rounds"]
        assert info["ratio"]["ci_low"] <= info["ratio"]["median"] <= info["ratio"]["ci_high"]
        assert info["versions"]["SQLAlchemy"] and info["versions"]["server"]
        assert len(info["dataset"]) > 0
    assert benches[FLOOR]["extra_info"]["rows_fetched"] == 10
    assert doc["machine_info"]["ormbench"]["server"]["backend"] == "url"
