"""Looks: base and head take turns, then only the undecided benchmarks are measured again."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from fixtures.cli import REPO
from ormbench.gate.config import load_config
from ormbench.gate.looks import Side, measure, results_file, selection
from ormbench.gate.tiers import Decision
from tests.test_gate_planted import SCHEMA, server_url  # noqa: F401 - server_url is a fixture

# Two gated strategies and the floor of one group on `tiny`: small enough for the default suite.
PICK = "canonical-p10- and (orm_scalars or core_select or dbapi_fetchall)"
TIMED = ["canonical-p10-core_select", "canonical-p10-orm_scalars"]
# A policy that cannot decide a timing verdict in one look (a threshold no rounds resolve)
# nor call a regression (an alpha below any Mann-Whitney p-value of a few dozen rounds), so
# that the second look is certain and what it measures is exact.
POLICY = """
[defaults]
threshold = 0.0001
alpha = 1e-12
[run]
dataset = "tiny"
round_budget = 0.2
min_rounds = 15
[adaptive]
max_looks = 2
"""


def test_undecided_benchmarks_are_measured_again_both_sides(
    server_url: str,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    """Look 1 measures every selected benchmark; the gate leaves the timed ones undecided;
    look 2 measures exactly those, both sides taking turns; the gate pools the looks."""
    (tmp_path / "gate.toml").write_text(POLICY)
    config = load_config(tmp_path / "gate.toml")
    args = (
        *config.run.pytest_args(),
        "-k",
        PICK,
        "--pg-url",
        server_url,
        "--pg-schema",
        SCHEMA,
    )
    sides = [Side(name, REPO, sys.executable, args) for name in ("base", "head")]
    before = set(Path(tempfile.gettempdir()).glob("ormbench-turns-*"))
    out = tmp_path / "results"
    result, looks = measure(sides, out, config)
    assert [look.number for look in looks] == [1, 2]
    assert looks[0].measured is None and sorted(looks[0].undecided) == TIMED
    assert looks[1].measured is not None and sorted(looks[1].measured) == TIMED
    for side in ("base", "head"):
        first = json.loads(results_file(out, side, 1).read_text())
        second = json.loads(results_file(out, side, 2).read_text())
        assert len(first["benchmarks"]) == 3
        assert all("cpu_ratio_samples" in b["extra_info"] for b in first["benchmarks"])
        assert sorted(b["param"] for b in second["benchmarks"]) == TIMED
        assert second["machine_info"]["ormbench"]["protocol"]["turns"] is True
    pooled = {v.name: v for v in result.verdicts}
    for name in TIMED:
        assert pooled[name].base is not None and pooled[name].base.runs == 2
    assert pooled["canonical-p10-dbapi_fetchall"].base.runs == 1
    assert result.decision is Decision.INCONCLUSIVE
    assert set(Path(tempfile.gettempdir()).glob("ormbench-turns-*")) == before


def test_selection_is_a_k_expression_of_exact_ids() -> None:
    """`-k` of ids: p10 does not select p100 (pytest matches substrings of the test name)."""
    assert selection(["canonical-p10-orm_scalars", "rare_tag-p100-core_text"]) == (
        "canonical-p10-orm_scalars or rare_tag-p100-core_text"
    )
