"""Measurement protocols: recorded, inferred for older runs, never judged across by timing."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ormbench.errors import EXIT_INCONCLUSIVE, UnusableInputError
from ormbench.gate import compare, load_run, load_side, render
from ormbench.gate.config import GateConfig
from ormbench.gate.protocol import PRE_SETTLE_VERSION, differences, of_run
from ormbench.gate.tiers import Decision, Outcome, Tier, judge
from ormbench.runinfo import PROTOCOL_VERSION, protocol
from tests.test_gate import bench, run_doc

# Real runs of canonical p10/p100 (orm_scalars, core_text, dbapi_fetchall) on `tiny`, base
# and head taking turns, saved by the commits themselves (tests/data/gate/README.md):
# 4c6a4bf, the parent of the settle, and cfd96e1, which introduced it.
DATA = Path(__file__).parent / "data" / "gate"
BEFORE_SETTLE = DATA / "4c6a4bf-tiny.json"
SETTLE = DATA / "cfd96e1-tiny.json"


def test_the_settle_change_gets_no_timing_verdict() -> None:
    """cfd96e1 against its parent: both protocols inferred (neither recorded one); no benchmark
    is improved or regressed by timing, the gate is INCONCLUSIVE and says why."""
    base, head = load_run(BEFORE_SETTLE), load_run(SETTLE)
    assert of_run(base).version == PRE_SETTLE_VERSION and of_run(base).settle_ms == 0
    assert of_run(head).version is None and of_run(head).settle_ms == 10
    result = compare(base, head, GateConfig())
    assert result.protocol_diff == ["protocol 1 (inferred) != 2 or 3 (not recorded)",
                                    "settle_ms 0 != 10"]  # fmt: skip
    assert result.decision is Decision.INCONCLUSIVE
    timed = [v for v in result.verdicts if v.base.strategy != "dbapi_fetchall"]
    assert len(timed) == 4
    for verdict in timed:
        assert verdict.outcome is Outcome.NO_VERDICT and verdict.tier is Tier.TIMING
        assert "measured under different protocols" in verdict.undecided
    assert "**Measured under different protocols**" in render(result)


def test_the_settle_change_moved_ratios_beyond_the_threshold() -> None:
    """What the check prevents: on the same code under test, the settle alone moved the
    median ratio of orm_scalars on canonical p10 by more than the gate's threshold."""
    base, head = load_run(BEFORE_SETTLE), load_run(SETTLE)
    name = "canonical-p10-orm_scalars"
    verdict = judge(base.benchmarks[name], head.benchmarks[name], GateConfig().defaults)
    assert verdict.timing is not None
    assert abs(verdict.timing.change) > GateConfig().defaults.threshold


def recorded(doc: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """``doc`` with the protocol the plugin records (defaults of perf.yml), changed as given."""
    fields = {"settle_ms": 10.0, "round_budget": 0.6, "min_rounds": 30, "turns": True} | changes
    doc["machine_info"]["ormbench"]["protocol"] = protocol(**fields)
    for b in doc["benchmarks"]:
        b["extra_info"]["settle_ms"] = fields["settle_ms"]
    return doc


@pytest.fixture
def put(tmp_path: Path) -> Callable[[str, dict[str, Any]], Path]:
    def write(name: str, doc: dict[str, Any]) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc))
        return path

    return write


def test_same_recorded_protocol_is_judged(put: Callable[..., Path]) -> None:
    """Both sides recorded one protocol: the timing tier judges as before."""
    base = load_run(put("b.json", recorded(run_doc(bench()))))
    head = load_run(put("h.json", recorded(run_doc(bench(seed=1)))))
    assert of_run(head).version == PROTOCOL_VERSION and of_run(head).inferred == ""
    result = compare(base, head, GateConfig())
    assert result.protocol_diff == [] and result.decision is Decision.PASS


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"round_budget": 0.5}, "round_budget 0.6 != 0.5"),
        ({"min_rounds": 15}, "min_rounds 30 != 15"),
        ({"turns": False}, "turns True != False"),
        ({"settle_ms": 0.0}, "settle_ms 10 != 0"),
    ],
    ids=["budget", "min-rounds", "turns", "settle"],
)
def test_each_protocol_difference_gives_no_timing_verdict(
    put: Callable[..., Path], change: dict[str, Any], reason: str
) -> None:
    """A head at another round budget, minimum, turn-taking or settle: no timing verdict,
    even for a 20% rise, and the reason is named."""
    base = load_run(put("b.json", recorded(run_doc(bench()))))
    head = load_run(put("h.json", recorded(run_doc(bench(seed=1, ratio=1.8)), **change)))
    result = compare(base, head, GateConfig())
    assert result.protocol_diff == [reason]
    (verdict,) = result.verdicts
    assert verdict.outcome is Outcome.NO_VERDICT and not verdict.fails
    assert result.decision is Decision.INCONCLUSIVE


def test_runs_off_the_policy_are_judged_and_flagged(put: Callable[..., Path]) -> None:
    """Both sides at 0.5 s of rounds, without turns: one protocol, so judged; the report says
    the options are not the policy's the threshold was calibrated at."""
    off = {"round_budget": 0.5, "turns": False}
    base = load_run(put("b.json", recorded(run_doc(bench()), **off)))
    head = load_run(put("h.json", recorded(run_doc(bench(seed=1)), **off)))
    result = compare(base, head, GateConfig())
    assert result.protocol_diff == [] and result.decision is Decision.PASS
    assert result.off_policy == [
        "base ran 0.5 s of rounds (policy 0.6)",
        "base did not take turns with the other side (perf.yml's runs do)",
        "head ran 0.5 s of rounds (policy 0.6)",
        "head did not take turns with the other side (perf.yml's runs do)",
    ]
    assert "**Not run as the gate policy says**" in render(result)


def test_exact_tier_still_judges_across_protocols(put: Callable[..., Path]) -> None:
    """An N+1 fails whatever the protocol: statements do not depend on how rounds are timed."""
    base = load_run(put("b.json", run_doc(bench())))
    head = load_run(put("h.json", recorded(run_doc(bench(seed=1, statements=11)))))
    result = compare(base, head, GateConfig())
    assert result.protocol_diff and result.decision is Decision.FAIL
    assert result.failures[0].tier is Tier.EXACT


def test_an_unrecorded_settled_run_against_a_recorded_one(put: Callable[..., Path]) -> None:
    """A settled run saved before protocols were recorded may be protocol 2 or 3: unknown."""
    old = run_doc(bench())
    old["benchmarks"][0]["extra_info"]["settle_ms"] = 10.0
    base = load_run(put("b.json", old))
    head = load_run(put("h.json", recorded(run_doc(bench(seed=1)))))
    assert differences(of_run(base), of_run(head)) == [
        f"protocol 2 or 3 (not recorded) != {PROTOCOL_VERSION}"
    ]


def test_runs_of_one_side_under_two_protocols_are_refused(put: Callable[..., Path]) -> None:
    """A side merged from runs of two protocols is unusable input, naming the difference."""
    put("base/1.json", recorded(run_doc(bench())))
    put("base/2.json", recorded(run_doc(bench(seed=2)), settle_ms=0.0))
    with pytest.raises(UnusableInputError, match=r"different protocols \(settle_ms 10 != 0"):
        load_side([put("base/1.json", recorded(run_doc(bench()))).parent])


def test_looks_of_one_side_pool_across_their_round_options(put: Callable[..., Path]) -> None:
    """A further look runs more rounds of the undecided benchmarks (``--min-rounds``): the
    runs of one side differ in round options on purpose and are pooled, round counts kept."""
    put("base/1.json", recorded(run_doc(bench(n=40))))
    put("base/2.json", recorded(run_doc(bench(seed=2, n=90)), min_rounds=90, round_budget=0.5))
    side = load_side([put("base/1.json", recorded(run_doc(bench(n=40)))).parent])
    (merged,) = side.benchmarks.values()
    assert merged.run_rounds == (40, 90)
    assert len(merged.ratio_samples) == 130


@pytest.mark.parametrize(
    ("protocol_doc", "message"),
    [
        ("fast", "protocol is not an object"),
        ({"version": "3"}, "protocol.version is '3', not a int"),
        (
            {"version": 3, "settle_ms": float("nan")},
            "protocol.settle_ms is nan, not a float",
        ),
    ],
    ids=["not-object", "string-version", "nan-settle"],
)
def test_a_bad_recorded_protocol_is_unusable(
    put: Callable[..., Path], protocol_doc: Any, message: str
) -> None:
    """A protocol record that is not what the plugin writes: one line, exit 4."""
    base = load_run(put("b.json", run_doc(bench())))
    doc = run_doc(bench(seed=1))
    doc["machine_info"]["ormbench"]["protocol"] = protocol_doc
    head = load_run(put("h.json", doc))
    with pytest.raises(UnusableInputError, match=message):
        compare(base, head, GateConfig())


def test_the_command_exits_inconclusive_across_protocols(
    run_cli: Callable[..., Any], tmp_path: Path
) -> None:
    """`ormbench gate` on the settle change: exit 5, the reason in the report."""
    for path in (BEFORE_SETTLE, SETTLE):
        shutil.copy(path, tmp_path / path.name)
    result = run_cli("gate", str(tmp_path / BEFORE_SETTLE.name), str(tmp_path / SETTLE.name))
    assert result.returncode == EXIT_INCONCLUSIVE, result.stderr
    assert result.stdout.startswith("## ormbench gate: INCONCLUSIVE (2 of 6 judged")
    assert "settle_ms 0 != 10" in result.stdout
