"""The gate on synthetic runs: unusable inputs, comparability, tiers, budgets, report, CLI."""

from __future__ import annotations

import copy
import json
import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ormbench.errors import (
    EXIT_INCONCLUSIVE,
    EXIT_REGRESSION,
    EXIT_UNUSABLE,
    ConfigError,
    UnusableInputError,
)
from ormbench.gate import compare, load_run, load_side, render
from ormbench.gate.calibrate import (
    Comparison,
    calibrate,
    clopper_pearson,
    find_comparisons,
)
from ormbench.gate.calibrate import render as render_calibration
from ormbench.gate.config import GateConfig, load_config, parse_config
from ormbench.gate.report import as_json
from ormbench.gate.sides import merge
from ormbench.gate.stats import scaled, shift
from ormbench.gate.tiers import Decision, Outcome, Tier, budgets_only, dataset_names

REPO = Path(__file__).resolve().parent.parent

PLAN = {
    "node_type": "Limit",
    "relation": None,
    "index": None,
    "join_type": None,
    "direction": None,
    "parent": None,
    "subplan": None,
    "children": [
        {
            "node_type": "Index Scan",
            "relation": "content_items",
            "index": "ix_content_created",
            "join_type": None,
            "direction": "Backward",
            "parent": "Outer",
            "subplan": None,
            "children": [],
        }
    ],
}


def bench(
    name: str = "canonical-p10-orm_scalars",
    *,
    ratio: float = 1.5,
    spread: float = 0.02,
    n: int = 60,
    seed: int = 0,
    statements: int = 1,
    rows_fetched: int = 10,
    calls: int = 2300,
    plans: list[Any] | None = None,
    median_s: float = 0.003,
) -> dict[str, Any]:
    """One benchmark entry as ormbench's suite saves it."""
    rng = random.Random(seed)
    scenario, size, strategy = name.split("-", 2)
    extra: dict[str, Any] = {
        "scenario": scenario,
        "page_size": int(size[1:]),
        "strategy": strategy,
        "json_loader": "json",
        "rows": 10,
        "statements": statements,
        "rows_fetched": rows_fetched,
        "calls": calls,
        "ratio": {"median": ratio, "ci_low": ratio * 0.98, "ci_high": ratio * 1.02, "n": n},
        "ratio_samples": [ratio * math.exp(rng.gauss(0, spread)) for _ in range(n)],
        "floor_samples": [0.002 * math.exp(rng.gauss(0, spread)) for _ in range(n)],
        "sql": ["SELECT 1"],
        "dataset": "abc123def456",
    }
    if plans is not None:
        extra["plans"] = plans
    return {
        "group": f"{scenario}-{size}",
        "name": f"test_page[{name}]",
        "fullname": f"benchmarks/test_strategies.py::test_page[{name}]",
        "param": name,
        "extra_info": extra,
        "stats": {
            "min": median_s * 0.9,
            "max": median_s * 1.3,
            "mean": median_s,
            "stddev": median_s * 0.05,
            "rounds": n,
            "median": median_s,
            "iqr": median_s * 0.04,
            "q1": median_s * 0.98,
            "q3": median_s * 1.02,
            "iqr_outliers": 0,
            "stddev_outliers": 0,
            "outliers": "0;0",
            "ld15iqr": median_s * 0.95,
            "hd15iqr": median_s * 1.05,
            "ops": 1 / median_s,
            "total": median_s * n,
            "iterations": 1,
        },
    }


def run_doc(*benches: dict[str, Any], **versions: str) -> dict[str, Any]:
    """A whole results file around ``benches``."""
    return {
        "machine_info": {
            "system": "Linux",
            "machine": "x86_64",
            "python_implementation": "CPython",
            "cpu": {"brand_raw": "Test CPU", "count": 2},
            "ormbench": {
                "versions": {
                    "python": "3.11.7",
                    "ormbench": "0.1.0",
                    "SQLAlchemy": "2.1.9",
                    "psycopg": "3.3.9",
                    **versions,
                },
                "server": {
                    "backend": "local",
                    "version": "15.18",
                    "settings": {"jit": "on", "work_mem": "4MB"},
                },
            },
        },
        "commit_info": {"id": "0123456789abcdef", "branch": "main", "dirty": False},
        "benchmarks": list(benches),
        "datetime": "2026-11-28T18:00:00+00:00",
        "version": "5.3.1",
    }


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, Any], Path]:
    """Write a document (dict: JSON; str: raw text) under tmp_path."""

    def put(name: str, doc: Any) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
        return path

    return put


def gate(base: dict[str, Any], head: dict[str, Any], tmp_path: Path, **kw: Any):
    (tmp_path / "b.json").write_text(json.dumps(base))
    (tmp_path / "h.json").write_text(json.dumps(head))
    return compare(load_run(tmp_path / "b.json"), load_run(tmp_path / "h.json"), GateConfig(), **kw)


# -- unusable input: one message each --------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("", "is empty"),
        ('{"benchmarks": [{"name": "x"', "is truncated"),
        ("{not json}", "is not valid JSON"),
        ('{"foo": 1}', "is not a pytest-benchmark results file"),
        ('{"benchmarks": [], "machine_info": {}}', "not written with ormbench's pytest plugin"),
        ('{"benchmarks": [], "machine_info": {"ormbench": {}}}', "holds no benchmarks"),
    ],
    ids=[
        "missing",
        "empty",
        "truncated",
        "not-json",
        "not-pytest-benchmark",
        "not-ormbench",
        "no-benchmarks",
    ],
)
def test_unusable_input_has_its_own_message(
    tmp_path: Path, content: str | None, message: str
) -> None:
    """Every way a results file is unusable gets its own one-line error naming the fix."""
    path = tmp_path / "run.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UnusableInputError) as err:
        load_run(path)
    text = str(err.value)
    assert message in text and "\n" not in text
    assert "--benchmark-json" in text
    assert err.value.exit_code == EXIT_UNUSABLE


def test_run_without_paired_benchmarks_is_unusable(write: Callable[..., Path]) -> None:
    """A pytest-benchmark file of another suite (no ratio samples) is refused, not compared."""
    doc = run_doc(bench())
    del doc["benchmarks"][0]["extra_info"]["ratio_samples"]
    with pytest.raises(UnusableInputError, match="no paired ormbench benchmark"):
        load_run(write("other.json", doc))


def test_directory_without_runs_is_unusable(tmp_path: Path) -> None:
    """An empty directory given as a side is an error, not an empty comparison."""
    with pytest.raises(UnusableInputError, match=r"holds no \*\.json"):
        load_side([tmp_path])


# -- comparability ---------------------------------------------------------------------------


def test_env_change_is_refused_with_the_command(tmp_path: Path) -> None:
    """Another SQLAlchemy in head: refused, naming both versions and how to compare."""
    with pytest.raises(UnusableInputError) as err:
        gate(run_doc(bench()), run_doc(bench(), SQLAlchemy="2.0.36"), tmp_path)
    text = str(err.value)
    assert "SQLAlchemy 2.1.9 != 2.0.36" in text
    assert "--allow-env-change" in text and "ormbench up" in text


@pytest.mark.parametrize(
    ("mutate", "key"),
    [
        (lambda d: d["machine_info"]["ormbench"]["server"].update(version="16.2"), "server major"),
        (
            lambda d: d["machine_info"]["ormbench"]["server"]["settings"].update(jit="off"),
            "server setting jit",
        ),
        (lambda d: d["benchmarks"][0]["extra_info"].update(dataset="fff"), "dataset fingerprint"),
        (lambda d: d["machine_info"]["ormbench"]["versions"].update(python="3.12.1"), "python"),
        (lambda d: d["machine_info"]["ormbench"]["versions"].update(psycopg="3.2.0"), "psycopg"),
    ],
    ids=["server-major", "setting", "dataset", "python", "psycopg"],
)
def test_each_environment_difference_is_refused(
    tmp_path: Path, mutate: Callable[[dict], None], key: str
) -> None:
    """Server major, settings, dataset, Python, psycopg: each alone makes runs incomparable
    (a settle or other protocol change is not refused: tests/test_gate_protocol.py)."""
    base, head = run_doc(bench()), run_doc(bench())
    for doc in (base, head):
        doc["benchmarks"][0]["extra_info"]["settle_ms"] = 10.0
    mutate(head)
    with pytest.raises(UnusableInputError, match=key):
        gate(base, head, tmp_path)


def test_a_run_saved_before_settle_was_recorded_stays_comparable(tmp_path: Path) -> None:
    """A base saved by an ormbench that did not record settle_ms is not refused against a
    head that does; it is a pre-settle protocol, so the timing tier gives no verdict."""
    head = run_doc(bench(seed=1))
    head["benchmarks"][0]["extra_info"]["settle_ms"] = 10.0
    result = gate(run_doc(bench()), head, tmp_path)
    assert result.env_changes == []
    assert "settle_ms 0 != 10" in result.protocol_diff
    assert result.decision is Decision.INCONCLUSIVE


def test_minor_server_and_ormbench_versions_are_comparable(tmp_path: Path) -> None:
    """A server minor release and a new ormbench (the code under test) do not refuse."""
    head = run_doc(bench(seed=1), ormbench="0.2.0")
    head["machine_info"]["ormbench"]["server"]["version"] = "15.19"
    result = gate(run_doc(bench()), head, tmp_path)
    assert result.env_changes == []
    assert "0.1.0 → 0.2.0" in render(result)


def test_allow_env_change_compares_and_lists_differences(tmp_path: Path) -> None:
    """--allow-env-change compares anyway and the report lists what differed."""
    result = gate(
        run_doc(bench()),
        run_doc(bench(seed=1), SQLAlchemy="2.0.36"),
        tmp_path,
        allow_env_change=True,
    )
    assert result.passed
    assert ("SQLAlchemy", "2.1.9", "2.0.36") in result.env_changes
    assert "SQLAlchemy: 2.1.9 → 2.0.36" in render(result)


# -- tiers -----------------------------------------------------------------------------------


def test_unchanged_passes(tmp_path: Path) -> None:
    """Same figures up to noise: every benchmark unchanged, exit 0."""
    names = ["canonical-p10-orm_scalars", "canonical-p10-dbapi_fetchall"]
    base = run_doc(*(bench(n, seed=i) for i, n in enumerate(names)))
    head = run_doc(*(bench(n, seed=10 + i) for i, n in enumerate(names)))
    result = gate(base, head, tmp_path)
    assert result.passed
    assert all(v.outcome is Outcome.UNCHANGED for v in result.verdicts)


def test_statement_count_fails_exact_tier_first(tmp_path: Path) -> None:
    """An N+1 fails on the exact tier, even though calls and timing moved too."""
    head = run_doc(bench(statements=11, rows_fetched=40, calls=4000, ratio=3.0))
    result = gate(run_doc(bench()), head, tmp_path)
    (verdict,) = result.failures
    assert verdict.tier is Tier.EXACT
    assert {f.what for f in verdict.findings} == {"statements", "rows fetched"}
    assert as_json(result)["failing"] == {"exact": ["canonical-p10-orm_scalars"]}


def test_fewer_statements_is_an_improvement(tmp_path: Path) -> None:
    """Fixing an N+1 passes the gate, reported as an improvement on the exact tier."""
    result = gate(run_doc(bench(statements=11)), run_doc(bench(statements=1, seed=1)), tmp_path)
    assert result.passed
    assert result.verdicts[0].outcome is Outcome.IMPROVEMENT
    assert result.verdicts[0].tier is Tier.EXACT


def test_plan_change_fails_with_a_diff(tmp_path: Path) -> None:
    """Another plan shape fails on the exact tier; the report carries the plan diff."""
    seq = copy.deepcopy(PLAN)
    seq["children"][0].update(node_type="Seq Scan", index=None, direction=None)
    result = gate(run_doc(bench(plans=[PLAN])), run_doc(bench(plans=[seq], seed=1)), tmp_path)
    (verdict,) = result.failures
    assert verdict.tier is Tier.EXACT
    assert verdict.findings[0].what == "plan shape"
    text = render(result)
    assert "plan diff" in text and "Seq Scan on content_items" in text


def test_plans_recorded_on_one_side_only_are_noted(tmp_path: Path) -> None:
    """A base older than plan capture: plans are not compared, and the report says so."""
    result = gate(run_doc(bench()), run_doc(bench(plans=[PLAN], seed=1)), tmp_path)
    assert result.passed
    assert any("plan shapes not compared" in n for n in result.verdicts[0].notes)


def test_calls_beyond_tolerance_fail_calls_tier(tmp_path: Path) -> None:
    """3% more Python calls fails the near-deterministic tier; 1% does not."""
    assert not gate(run_doc(bench()), run_doc(bench(calls=2369, seed=1)), tmp_path).passed
    result = gate(run_doc(bench()), run_doc(bench(calls=2323, seed=1)), tmp_path)
    assert result.passed


def test_timing_needs_size_and_significance(tmp_path: Path) -> None:
    """A 20% rise of the median ratio fails; 3% (under the threshold) passes."""
    result = gate(run_doc(bench()), run_doc(bench(ratio=1.8, seed=1)), tmp_path)
    (verdict,) = result.failures
    assert verdict.tier is Tier.TIMING
    assert verdict.findings[0].p_value < 0.01
    assert gate(run_doc(bench()), run_doc(bench(ratio=1.545, seed=1)), tmp_path).passed


def test_large_but_noisy_shift_is_too_noisy_to_judge(tmp_path: Path) -> None:
    """A 10% median rise over 12 wild rounds neither fails nor passes as "unchanged": the
    report says the rounds were too noisy to judge."""
    base = run_doc(bench(n=12, spread=0.5))
    head = run_doc(bench(n=12, spread=0.5, seed=3, ratio=1.65))
    result = gate(base, head, tmp_path)
    assert result.decision is Decision.INCONCLUSIVE
    assert result.verdicts[0].outcome is Outcome.NO_VERDICT
    assert "too noisy to judge" in render(result)


def test_undecided_benchmarks_make_the_gate_inconclusive(tmp_path: Path) -> None:
    """One noisy benchmark beside two decided ones: INCONCLUSIVE, never PASS; the headline
    counts every verdict and the report names the undecided one with what it could resolve."""
    names = ["canonical-p10-core_text", "canonical-p10-dbapi_fetchall"]
    base = run_doc(bench(n=12, spread=0.5), *(bench(n, seed=i) for i, n in enumerate(names)))
    head = run_doc(
        bench(n=12, spread=0.5, seed=3, ratio=1.65),
        *(bench(n, seed=10 + i) for i, n in enumerate(names)),
    )
    result = gate(base, head, tmp_path)
    assert result.decision is Decision.INCONCLUSIVE and not result.passed
    assert result.counts() == {
        "judged": 2,
        "unchanged": 2,
        "improved": 0,
        "regressed": 0,
        "undecided": 1,
    }
    (undecided,) = result.undecided
    assert undecided.name == "canonical-p10-orm_scalars"
    assert undecided.resolvable is not None and undecided.resolvable > 0.05
    text = render(result)
    assert text.startswith(
        "## ormbench gate: INCONCLUSIVE (2 of 3 judged: 2 unchanged, 0 improved, 0 regressed; "
        "1 undecided)"
    )
    assert (
        f"- `canonical-p10-orm_scalars`: smallest resolvable change ±{undecided.resolvable:.1%}"
        " (12/12 rounds)"
    ) in text
    doc = as_json(result)
    assert doc["decision"] == "INCONCLUSIVE" and list(doc["undecided"]) == [undecided.name]


def test_too_few_rounds_give_no_timing_verdict(tmp_path: Path) -> None:
    """Fewer rounds than min_samples: the timing tier says so instead of guessing."""
    result = gate(run_doc(bench(n=5)), run_doc(bench(n=5, ratio=3.0, seed=1)), tmp_path)
    assert result.decision is Decision.INCONCLUSIVE
    assert result.verdicts[0].outcome is Outcome.NO_VERDICT
    assert result.verdicts[0].resolvable is None


def test_missing_benchmark_fails_loudly(tmp_path: Path) -> None:
    """A benchmark of base that head lacks fails the gate and heads the report."""
    base = run_doc(bench("canonical-p10-orm_scalars"), bench("canonical-p10-core_text"))
    head = run_doc(bench("canonical-p10-orm_scalars", seed=1))
    result = gate(base, head, tmp_path)
    assert not result.passed
    assert as_json(result)["failing"] == {"presence": ["canonical-p10-core_text"]}
    assert "missing in head" in render(result)


def test_new_benchmark_is_listed_not_gated(tmp_path: Path) -> None:
    """A benchmark only head has is reported as new, without failing the gate."""
    base = run_doc(bench("canonical-p10-orm_scalars"))
    head = run_doc(bench("canonical-p10-orm_scalars", seed=1), bench("canonical-p10-orm_new"))
    result = gate(base, head, tmp_path)
    assert result.passed
    assert "new in head" in render(result)


def test_floor_shift_is_reported_not_gated(tmp_path: Path) -> None:
    """A slower floor (shared cost) is shown as information; it never fails the gate alone."""
    head = run_doc(bench(seed=1))
    head["benchmarks"][0]["extra_info"]["floor_samples"] = [0.003] * 60
    result = gate(run_doc(bench()), head, tmp_path)
    assert result.passed
    assert [f.group for f in result.floors] == ["canonical-p10"]
    assert "Shared cost moved" in render(result)


# -- merging sides ---------------------------------------------------------------------------


def test_runs_of_one_side_merge(write: Callable[..., Path], tmp_path: Path) -> None:
    """A directory of runs is one side: samples pooled, calls the median of the runs."""
    write("base/1.json", run_doc(bench(seed=1, calls=2300)))
    write("base/2.json", run_doc(bench(seed=2, calls=2302)))
    side = load_side([tmp_path / "base"])
    merged = side.benchmarks["canonical-p10-orm_scalars"]
    assert len(merged.ratio_samples) == 120 and merged.runs == 2
    assert merged.calls == 2301


def test_runs_of_one_side_that_disagree_are_noted(write: Callable[..., Path]) -> None:
    """Statements that differ between runs of one side are flagged as nondeterministic."""
    a = load_run(write("1.json", run_doc(bench())))
    b = load_run(write("2.json", run_doc(bench(statements=2, seed=1))))
    merged = merge([a, b]).benchmarks["canonical-p10-orm_scalars"]
    assert any("statements differs" in n for n in merged.notes)


# -- budgets ---------------------------------------------------------------------------------


def test_budget_fails_only_where_configured(tmp_path: Path) -> None:
    """A budget on one benchmark: over it fails, others are not checked at all."""
    config = parse_config(
        {"budget": [{"match": "canonical-p10-orm_scalars", "median_ms": 2.0}]}, "test"
    )
    base = run_doc(bench(), bench("canonical-p10-core_text"))
    head = run_doc(bench(seed=1), bench("canonical-p10-core_text", seed=1))
    (tmp_path / "b.json").write_text(json.dumps(base))
    (tmp_path / "h.json").write_text(json.dumps(head))
    result = compare(load_run(tmp_path / "b.json"), load_run(tmp_path / "h.json"), config)
    assert [v.name for v in result.failures] == ["canonical-p10-orm_scalars"]
    assert as_json(result)["failing"] == {"budget": ["canonical-p10-orm_scalars"]}
    assert "over budget" in render(result)


def test_budget_for_another_dataset_does_not_apply(write: Callable[..., Path]) -> None:
    """A budget set for `production` is not checked on a `ci` run: nothing checked is
    inconclusive, not a pass."""
    config = parse_config(
        {"budget": [{"match": "*", "dataset": "production", "median_ms": 0.001}]}, "test"
    )
    run = load_run(write("r.json", run_doc(bench())))
    result = budgets_only(run, config)
    assert result.verdicts == [] and result.decision is Decision.INCONCLUSIVE


def test_dataset_names_resolve_profiles() -> None:
    """A fingerprint hash of a named profile resolves to the profile's name (for budgets)."""
    from ormbench.data.profiles import get_profile
    from ormbench.data.seed import fingerprint, fingerprint_hash

    digest = fingerprint_hash(fingerprint(get_profile("production")))
    doc = bench()
    doc["extra_info"]["dataset"] = digest
    from ormbench.gate.runs import _bench

    assert "production" in dataset_names(_bench(Path("x"), doc))  # type: ignore[arg-type]


# -- config ----------------------------------------------------------------------------------


def test_repo_config_is_valid() -> None:
    """ormbench-gate.toml at the repo root parses, with the documented defaults."""
    config = load_config(REPO / "ormbench-gate.toml")
    assert 0 < config.defaults.threshold < 0.2
    assert config.budgets, "the production budget is configured"


def test_override_matches_group_and_id() -> None:
    """Overrides apply by glob over the id or the group, later ones winning."""
    config = parse_config(
        {
            "defaults": {"threshold": 0.05},
            "override": [
                {"match": "rare_tag-p10", "threshold": 0.08},
                {"match": "*-orm_yield_per", "threshold": 0.12},
            ],
        },
        "test",
    )
    assert config.for_bench("rare_tag-p10-core_text", "rare_tag-p10").threshold == 0.08
    assert config.for_bench("rare_tag-p10-orm_yield_per", "rare_tag-p10").threshold == 0.12
    assert config.for_bench("canonical-p10-core_text", "canonical-p10").threshold == 0.05


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"defaults": {"treshold": 0.1}}, "unknown key"),
        ({"defaults": {"threshold": "5%"}}, "must be a number"),
        ({"defaults": {"alpha": 2}}, "alpha must be between"),
        ({"override": [{"threshold": 0.1}]}, "match must be a glob"),
        ({"budget": [{"match": "x", "median_ms": -1}]}, "positive number of milliseconds"),
        ({"budgets": []}, "unknown section"),
    ],
    ids=["typo", "string", "alpha", "no-match", "budget", "section"],
)
def test_bad_config_names_itself(doc: dict[str, Any], message: str) -> None:
    """A wrong key or value is an error naming it and the file, never a silent default."""
    with pytest.raises(ConfigError, match=message):
        parse_config(doc, "gate.toml")


# -- statistics and calibration --------------------------------------------------------------


def test_shift_and_scaled() -> None:
    """A 10% scaled copy of a sample moves the median by 10% and is significant."""
    rng = random.Random(1)
    base = [1.5 + rng.gauss(0, 0.02) for _ in range(80)]
    head = scaled([1.5 + rng.gauss(0, 0.02) for _ in range(80)], 1.10)
    s = shift(base, head)
    assert s.change == pytest.approx(0.10, abs=0.02)
    assert s.p_greater < 1e-6 < s.p_less


def test_clopper_pearson_bounds() -> None:
    """0 of 20 only bounds a rate under about 17% (two-sided 95%): why the figures pool."""
    low, high = clopper_pearson(0, 20)
    assert low == 0 and 0.15 < high < 0.18


def test_calibrate_counts_alarms_and_detection(write: Callable[..., Path]) -> None:
    """Quiet A/A pairs: no false alarm, and a planted 10% is found in every case."""
    comps = []
    for k in range(3):
        base = load_run(write(f"b{k}.json", run_doc(bench(seed=k))))
        head = load_run(write(f"h{k}.json", run_doc(bench(seed=100 + k))))
        comps.append(Comparison(str(k), base, head))
    result = calibrate(comps, GateConfig())
    assert result.alarm_rate() == (0, 3)
    assert result.detected(0.10) == (3, 3)
    assert result.smallest_detected() is not None and result.smallest_detected() <= 0.10


def test_calibrate_reports_the_rounds_95_percent_need(write: Callable[..., Path]) -> None:
    """Each timing comparison's rounds scaled to the look aim (0.8 x threshold) as 1/sqrt(n);
    the figure is the 95th percentile by nearest rank, and the report prints it."""
    comps = [
        Comparison(
            str(k),
            load_run(write(f"b{k}.json", run_doc(bench(seed=k)))),
            load_run(write(f"h{k}.json", run_doc(bench(seed=100 + k)))),
        )
        for k in range(2)
    ]
    result = calibrate(comps, GateConfig())
    ((n, need), _) = result.rounds
    verdict = compare(comps[0].base, comps[0].head, GateConfig(), allow_env_change=True)
    (samples,) = [v.samples for v in verdict.verdicts if v.samples is not None]
    assert need == pytest.approx(n * (samples.resolution() / (0.8 * 0.05)) ** 2)
    result.rounds = [(30, float(k)) for k in range(1, 41)]  # 95% of 40: the 38th
    assert result.rounds_needed() == 38.0
    assert "to resolve ±4% (their resolution scaled as 1/√rounds): **38** (median had 30)" in (
        render_calibration(result, GateConfig())
    )


def test_calibrate_counts_a_real_plant_as_detection_not_as_false_alarm(
    write: Callable[..., Path], tmp_path: Path
) -> None:
    """Pairs whose head loaded a plant (plant.json): the target's failures are detections,
    every other benchmark stays an A/A comparison."""
    plant = {"module": "ormbench.gate.plants.cpu", "strategy": "orm_scalars", "cost": 0.10}
    for k in range(2):
        pair = tmp_path / "pairs" / f"pair-{k:03d}"
        pair.mkdir(parents=True)
        (pair / "plant.json").write_text(json.dumps(plant))
        target, other = "canonical-p10-orm_scalars", "canonical-p10-core_text"
        base = run_doc(bench(target, seed=k), bench(other, seed=10 + k))
        head = run_doc(bench(target, ratio=1.5 * 1.10, seed=20 + k), bench(other, seed=30 + k))
        (pair / "base.json").write_text(json.dumps(base))
        (pair / "head.json").write_text(json.dumps(head))
    comps = find_comparisons(tmp_path / "pairs")
    assert [c.plant for c in comps] == [plant, plant]
    result = calibrate(comps, GateConfig())
    assert dict(result.planted_cases) == {"canonical-p10-orm_scalars": 2}
    assert dict(result.planted_hits) == {"canonical-p10-orm_scalars": 2}
    assert result.alarm_rate() == (0, 2)  # core_text, twice: no false alarm
    text = render_calibration(result, GateConfig())
    assert (
        "real plant in head (`ormbench.gate.plants.cpu`: orm_scalars, one per pair, 10% slower)"
        in text
    )
    assert "failed the gate in **2 of 2**" in text


def test_calibrate_rejects_an_unknown_plant(run_cli: Callable[..., Any], tmp_path: Path) -> None:
    result = run_cli("calibrate", "--run", "1", "--plant", "nope", str(tmp_path / "x"))
    assert result.returncode == 2
    assert "--plant 'nope' is not a planted regression; known: cpu, lazy_load" in result.stderr
    assert not (tmp_path / "x").exists()


# -- the command -----------------------------------------------------------------------------


def test_cli_exit_codes_and_summary(
    run_cli: Callable[..., Any], write: Callable[..., Path], tmp_path: Path
) -> None:
    """exit 0 on pass, 1 on regression, 4 on unusable input, 5 when undecided; report in the
    step summary."""
    from fixtures.cli import subprocess_env

    summary = tmp_path / "summary.md"
    env = subprocess_env(GITHUB_STEP_SUMMARY=str(summary))
    base = write("base.json", run_doc(bench()))
    same = write("same.json", run_doc(bench(seed=1)))
    worse = write("worse.json", run_doc(bench(statements=11, seed=2)))
    ok = run_cli("gate", str(base), str(same), env=env)
    assert ok.returncode == 0, ok.stderr
    assert "ormbench gate: PASS" in ok.stdout
    noisy = write("noisy.json", run_doc(bench(n=12, spread=0.5, seed=3)))
    undecided = run_cli("gate", str(base), str(noisy), env=env)
    assert undecided.returncode == EXIT_INCONCLUSIVE, undecided.stderr
    assert "ormbench gate: INCONCLUSIVE" in undecided.stdout
    bad = run_cli("gate", str(base), str(worse), "--json", str(tmp_path / "v.json"), env=env)
    assert bad.returncode == EXIT_REGRESSION
    assert json.loads((tmp_path / "v.json").read_text())["failing"] == {
        "exact": ["canonical-p10-orm_scalars"]
    }
    assert summary.read_text().count("## ormbench gate") == 3
    broken = write("broken.json", '{"benchmarks": [')
    unusable = run_cli("gate", str(base), str(broken), env=env)
    assert unusable.returncode == EXIT_UNUSABLE
    assert unusable.stderr.startswith("ormbench: ") and unusable.stderr.count("\n") == 1
