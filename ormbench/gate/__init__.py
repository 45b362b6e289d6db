"""The perf gate: compare two sides of saved runs in tiers, keep history, calibrate.

* ``runs`` - read, validate and merge pytest-benchmark JSON written by ormbench's suite;
* ``comparable`` - refuse runs that differ in anything but the code under test, or are one;
* ``protocol`` - each run's measurement protocol, recorded or inferred;
* ``config`` - thresholds, overrides, budgets and the gate policy from ``ormbench-gate.toml``;
* ``stats`` - the timing tier's median shift and Mann-Whitney U test;
* ``tiers`` - the verdicts (exact, calls, timing; presence; budgets) and the decision
  (PASS, FAIL, INCONCLUSIVE);
* ``looks`` - both sides taking turns, then further looks at the undecided benchmarks;
* ``report`` - the markdown report and its JSON form;
* ``calibrate`` - false-alarm rate and detectable regression from A/A runs;
* ``history`` - trend tables, step detection, charts and the history store;
* ``plants`` - planted regressions, to prove the gate catches what it should.

The ``ormbench gate``, ``gate-args``, ``gate-run``, ``history`` and ``calibrate`` commands live in
``ormbench.commands.gate``; docs/gate.md is the user's guide.
"""

from ormbench.gate.config import GateConfig, load_config
from ormbench.gate.report import as_json, render
from ormbench.gate.runs import Bench, Run, load_run
from ormbench.gate.sides import load_side
from ormbench.gate.tiers import GateResult, Outcome, Tier, Verdict, compare

__all__ = [
    "Bench",
    "GateConfig",
    "GateResult",
    "Outcome",
    "Run",
    "Tier",
    "Verdict",
    "as_json",
    "compare",
    "load_config",
    "load_run",
    "load_side",
    "render",
]
