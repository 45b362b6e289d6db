"""The gate's thresholds and budgets: one TOML file, ``ormbench-gate.toml`` at the repo root.

Layout (every key optional; docs/gate.md explains each)::

    [defaults]
    threshold = 0.05         # timing: the median ratio must rise by more than this fraction
    alpha = 0.01             # timing: one-sided Mann-Whitney U significance level
    calls_tolerance = 0.02   # near-deterministic: allowed relative change of Python calls
    min_samples = 10         # timing: fewer paired rounds per side give no timing verdict
    process_tolerance = 0.01 # timing: a change must be significantly beyond this to count
    fail_on_missing = true   # a benchmark of base absent from head fails the gate

    [[override]]             # later overrides win; match is a glob over id or group
    match = ["rare_tag-*"]
    threshold = 0.08

    [[budget]]               # absolute budget on head's median, where configured only
    match = "canonical-p10-*"
    dataset = "production"   # profile name or fingerprint hash; omitted: any dataset
    median_ms = 500
    fail = true

    [history]
    step_threshold = 0.10    # `ormbench history`: ratio change that makes a step

    [run]                    # what each side runs: `ormbench gate-args` prints it for pytest
    paths = ["benchmarks/test_strategies.py"]
    marker = "gate"          # the gate subset (-m)
    dataset = "ci"
    round_budget = 0.6       # seconds of rounds per benchmark (calibrated with the threshold)
    min_rounds = 30

    [adaptive]               # more rounds of undecided benchmarks (docs/gate.md)
    max_looks = 3            # the first run plus at most 2 more of the undecided ones
    first_look_alpha = 0.7   # share of alpha spent at the first look; the rest split evenly
    time_cap_s = 180         # a further look starts only if it is estimated to end by then

A key that is not one of these is an error naming the key and the file, so a typo never
silently leaves a default in force.
"""

from __future__ import annotations

import fnmatch
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ormbench.errors import ConfigError

# File name looked up in the current directory when --config is not given.
CONFIG_FILE = "ormbench-gate.toml"
# Defaults, calibrated from A/A runs of the `ci` gate subset (docs/gate.md, "Calibration").
# Fraction by which head's median ratio to dbapi_fetchall must exceed base's (5%: the
# threshold of the sweep with under 1% A/A false alarms and over 95% detection of a planted 10%,
# base and head alternating round by round, one pair per side, 1.0 s of rounds).
DEFAULT_THRESHOLD = 0.05
# One-sided Mann-Whitney U level; small because pooled rounds are not fully independent.
DEFAULT_ALPHA = 0.01
# Relative change of cProfile calls per warm execution (they drift +-2 calls in ~2,000).
DEFAULT_CALLS_TOLERANCE = 0.02
# Two processes running the same code differ in CPU time by a little (memory layout, hash
# seeds, their backends): about 1.3% as a standard deviation, the excess of A/A changes over
# their within-run intervals. A regression must be significantly larger than this, not only
# significantly above zero (docs/gate.md, "Calibration", has the sweep that chose 1%).
DEFAULT_PROCESS_TOLERANCE = 0.01
# Fewer paired rounds than this per side: the U test has no power; no timing verdict.
DEFAULT_MIN_SAMPLES = 10
# What each side runs, calibrated together with the threshold (docs/gate.md, "Calibration"):
# base and head alternate rounds, so drift cancels between them and the median's noise falls
# as rounds grow; at 0.5 s a third of the benchmarks could not resolve a 6% threshold.
DEFAULT_RUN_PATHS = ("benchmarks/test_strategies.py",)
DEFAULT_RUN_MARKER = "gate"
DEFAULT_RUN_DATASET = "ci"
DEFAULT_ROUND_BUDGET = 0.6
# The first look's rounds: CPU time with rounds matched resolves most benchmarks in 30 (a
# 100-row page's settled round is about 50 ms); further looks run what the undecided need.
DEFAULT_MIN_ROUNDS = 30
# Looks (runs of the undecided benchmarks) at most, the first included.
DEFAULT_MAX_LOOKS = 3
# Share of alpha spent at the first look (the calibrated run); the rest is split evenly over
# the further looks, so alpha summed over all looks never exceeds the configured alpha.
DEFAULT_FIRST_LOOK_ALPHA = 0.7
# Seconds a gate's measuring may take, looks included: a further look starts only if its
# estimate ends within it. The goal for a side's wall time (both sides run at once).
DEFAULT_TIME_CAP_S = 180.0
# History: a sustained ratio change beyond this is a step. Larger than the gate's threshold:
# consecutive pushes run on different runners, not interleaved on one.
DEFAULT_STEP_THRESHOLD = 0.10


@dataclass(frozen=True)
class Thresholds:
    """What decides one benchmark's verdicts."""

    threshold: float = DEFAULT_THRESHOLD
    alpha: float = DEFAULT_ALPHA
    calls_tolerance: float = DEFAULT_CALLS_TOLERANCE
    min_samples: int = DEFAULT_MIN_SAMPLES
    process_tolerance: float = DEFAULT_PROCESS_TOLERANCE


@dataclass(frozen=True)
class Override:
    """Thresholds for the benchmarks or groups matching any of ``match``."""

    match: tuple[str, ...]
    values: Mapping[str, Any]


@dataclass(frozen=True)
class Budget:
    """An absolute budget: head's median time of the matching benchmarks, in milliseconds."""

    match: tuple[str, ...]
    median_ms: float
    dataset: str | None = None
    fail: bool = True

    def applies(self, name: str, group: str | None, dataset_names: Sequence[str]) -> bool:
        if self.dataset is not None and self.dataset not in dataset_names:
            return False
        return _matches(self.match, name, group)


@dataclass(frozen=True)
class RunPolicy:
    """What each side of a comparison runs, as pytest options (``ormbench gate-args``)."""

    paths: tuple[str, ...] = DEFAULT_RUN_PATHS
    marker: str = DEFAULT_RUN_MARKER
    dataset: str = DEFAULT_RUN_DATASET
    round_budget: float = DEFAULT_ROUND_BUDGET
    min_rounds: int = DEFAULT_MIN_ROUNDS

    def pytest_args(self) -> list[str]:
        """The pytest command line of one side (without output file and turn-taking)."""
        return [
            *self.paths,
            "-m",
            self.marker,
            "--dataset",
            self.dataset,
            "--round-budget",
            f"{self.round_budget:g}",
            "--min-rounds",
            str(self.min_rounds),
            "--benchmark-only",
            "-q",
            "-p",
            "no:cacheprovider",
        ]


@dataclass(frozen=True)
class Adaptive:
    """Further looks at undecided benchmarks, and how alpha is spent across them."""

    max_looks: int = DEFAULT_MAX_LOOKS
    first_look_alpha: float = DEFAULT_FIRST_LOOK_ALPHA
    time_cap_s: float = DEFAULT_TIME_CAP_S

    def alpha(self, alpha: float, look: int) -> float:
        """The level of look ``look`` (1-based): a share of ``alpha``, the shares summing to
        at most 1 over ``max_looks`` looks (Bonferroni over the looks)."""
        if self.max_looks == 1:
            return alpha
        if look <= 1:
            return alpha * self.first_look_alpha
        if look > self.max_looks:
            return 0.0  # past the planned looks: no alpha left, no verdict
        return alpha * (1 - self.first_look_alpha) / (self.max_looks - 1)


@dataclass(frozen=True)
class GateConfig:
    """The whole configuration: defaults, overrides in order, budgets."""

    defaults: Thresholds = field(default_factory=Thresholds)
    overrides: tuple[Override, ...] = ()
    budgets: tuple[Budget, ...] = ()
    fail_on_missing: bool = True
    step_threshold: float = DEFAULT_STEP_THRESHOLD
    source: str = "built-in defaults"
    run: RunPolicy = field(default_factory=RunPolicy)
    adaptive: Adaptive = field(default_factory=Adaptive)

    def for_bench(self, name: str, group: str | None) -> Thresholds:
        """The thresholds of one benchmark: defaults, then every matching override in order."""
        out = self.defaults
        for override in self.overrides:
            if _matches(override.match, name, group):
                out = replace(out, **override.values)
        return out

    def describe_alpha(self) -> str:
        """The default alpha and how it is spent across looks, as reports show it."""
        alpha, looks = self.defaults.alpha, self.adaptive.max_looks
        if looks == 1:
            return f"p<{alpha:g}"
        first = self.adaptive.alpha(alpha, 1)
        return f"p<{alpha:g} spent over up to {looks} looks (look 1 at {first:.2g})"

    def at_look(self, name: str, group: str | None, look: int) -> Thresholds:
        """The thresholds of one benchmark at its ``look``-th run: alpha is that look's share."""
        limits = self.for_bench(name, group)
        return replace(limits, alpha=self.adaptive.alpha(limits.alpha, look))


def _matches(patterns: Sequence[str], name: str, group: str | None) -> bool:
    return any(
        fnmatch.fnmatchcase(name, p) or (group is not None and fnmatch.fnmatchcase(group, p))
        for p in patterns
    )


_THRESHOLD_KEYS = {f.name: f.type for f in fields(Thresholds)}
_DEFAULT_KEYS = {*_THRESHOLD_KEYS, "fail_on_missing"}
_BUDGET_KEYS = {"match", "median_ms", "dataset", "fail"}


def load_config(path: Path | None = None, cwd: Path | None = None) -> GateConfig:
    """The config at ``path``; without one, ``ormbench-gate.toml`` here, else the defaults."""
    if path is None:
        candidate = (cwd or Path.cwd()) / CONFIG_FILE
        if not candidate.is_file():
            return GateConfig()
        path = candidate
    if not path.is_file():
        raise ConfigError(f"gate config {path} not found; pass --config FILE or create it")
    try:
        doc = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"gate config {path} is not valid TOML: {exc}") from None
    return parse_config(doc, str(path))


def parse_config(doc: Mapping[str, Any], source: str) -> GateConfig:
    """Validate a parsed config document; every bad key or value names itself and the file."""
    unknown = set(doc) - {"defaults", "override", "budget", "history", "run", "adaptive"}
    if unknown:
        raise ConfigError(
            f"{source}: unknown section(s) {', '.join(sorted(unknown))}; "
            "expected [defaults], [[override]], [[budget]], [history], [run], [adaptive]"
        )
    run = _run_policy(dict(doc.get("run") or {}), f"{source} [run]")
    adaptive = _adaptive(dict(doc.get("adaptive") or {}), f"{source} [adaptive]")
    raw_history = dict(doc.get("history") or {})
    _check_keys(raw_history, {"step_threshold"}, f"{source} [history]")
    step = _thresholds(
        {"threshold": raw_history.get("step_threshold", DEFAULT_STEP_THRESHOLD)},
        f"{source} [history] step_threshold",
    )["threshold"]
    raw_defaults = dict(doc.get("defaults") or {})
    _check_keys(raw_defaults, _DEFAULT_KEYS, f"{source} [defaults]")
    fail_on_missing = raw_defaults.pop("fail_on_missing", True)
    if not isinstance(fail_on_missing, bool):
        raise ConfigError(f"{source} [defaults]: fail_on_missing must be true or false")
    defaults = replace(Thresholds(), **_thresholds(raw_defaults, f"{source} [defaults]"))
    overrides = []
    for n, raw in enumerate(doc.get("override") or [], 1):
        where = f"{source} [[override]] #{n}"
        raw = dict(raw)
        _check_keys(raw, {*_THRESHOLD_KEYS, "match"}, where)
        match = _patterns(raw.pop("match", None), where)
        overrides.append(Override(match, _thresholds(raw, where)))
    budgets = []
    for n, raw in enumerate(doc.get("budget") or [], 1):
        where = f"{source} [[budget]] #{n}"
        _check_keys(raw, _BUDGET_KEYS, where)
        median = raw.get("median_ms")
        if not isinstance(median, int | float) or isinstance(median, bool) or median <= 0:
            raise ConfigError(f"{where}: median_ms must be a positive number of milliseconds")
        dataset = raw.get("dataset")
        if dataset is not None and not isinstance(dataset, str):
            raise ConfigError(f"{where}: dataset must be a profile name or fingerprint hash")
        fail = raw.get("fail", True)
        if not isinstance(fail, bool):
            raise ConfigError(f"{where}: fail must be true or false")
        budgets.append(Budget(_patterns(raw.get("match"), where), float(median), dataset, fail))
    return GateConfig(
        defaults, tuple(overrides), tuple(budgets), fail_on_missing, step, source, run, adaptive
    )


def _run_policy(raw: dict[str, Any], where: str) -> RunPolicy:
    _check_keys(raw, {f.name for f in fields(RunPolicy)}, where)
    out = RunPolicy()
    if "paths" in raw:
        paths = raw["paths"]
        if (
            not isinstance(paths, list)
            or not paths
            or not all(isinstance(p, str) and p for p in paths)
        ):
            raise ConfigError(f"{where}: paths must be a list of test files or directories")
        out = replace(out, paths=tuple(paths))
    for key in ("marker", "dataset"):
        if key in raw:
            if not isinstance(raw[key], str) or not raw[key]:
                raise ConfigError(f"{where}: {key} must be a non-empty string")
            out = replace(out, **{key: raw[key]})
    if "round_budget" in raw:
        out = replace(out, round_budget=_positive(raw["round_budget"], f"{where} round_budget"))
    if "min_rounds" in raw:
        out = replace(out, min_rounds=_whole(raw["min_rounds"], 2, f"{where} min_rounds"))
    return out


def _adaptive(raw: dict[str, Any], where: str) -> Adaptive:
    _check_keys(raw, {f.name for f in fields(Adaptive)}, where)
    out = Adaptive()
    if "max_looks" in raw:
        out = replace(out, max_looks=_whole(raw["max_looks"], 1, f"{where} max_looks"))
    if "first_look_alpha" in raw:
        share = _positive(raw["first_look_alpha"], f"{where} first_look_alpha")
        if share > 1:
            raise ConfigError(f"{where}: first_look_alpha is a share of alpha, at most 1")
        out = replace(out, first_look_alpha=share)
    if "time_cap_s" in raw:
        out = replace(out, time_cap_s=_positive(raw["time_cap_s"], f"{where} time_cap_s"))
    return out


def _positive(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(f"{where} must be a positive number, got {value!r}")
    return float(value)


def _whole(value: Any, least: int, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ConfigError(f"{where} must be a whole number >= {least}, got {value!r}")
    return value


def _check_keys(raw: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(raw) - allowed
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )


def _patterns(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not value or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}: match must be a glob or a list of globs (ids or groups)")
    return tuple(value)


def _thresholds(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: {key} must be a number, got {value!r}")
        if key == "min_samples":
            if int(value) != value or value < 2:
                raise ConfigError(f"{where}: min_samples must be a whole number >= 2")
            value = int(value)
        elif key == "alpha" and not 0 < value < 1:
            raise ConfigError(f"{where}: alpha must be between 0 and 1, got {value}")
        elif key in ("threshold", "calls_tolerance", "process_tolerance") and not 0 <= value < 10:
            raise ConfigError(f"{where}: {key} is a fraction (0.05 = 5%), got {value}")
        out[key] = float(value) if key != "min_samples" else value
    return out


__all__ = [
    "CONFIG_FILE",
    "DEFAULT_ALPHA",
    "DEFAULT_CALLS_TOLERANCE",
    "DEFAULT_MIN_SAMPLES",
    "DEFAULT_PROCESS_TOLERANCE",
    "DEFAULT_STEP_THRESHOLD",
    "DEFAULT_THRESHOLD",
    "Adaptive",
    "Budget",
    "GateConfig",
    "Override",
    "RunPolicy",
    "Thresholds",
    "load_config",
    "parse_config",
]
