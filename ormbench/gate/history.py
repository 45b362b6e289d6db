"""Run history: trends per benchmark, steps, charts, the history store and its exports.

Sources are pytest-benchmark JSON files: pytest-benchmark's own storage (``.benchmarks/``,
written by ``--benchmark-autosave``/``--benchmark-save``) and ormbench's history store (a
directory of runs, kept on a data branch by the perf workflow; ``append_run``). Files are
only read, so ``pytest-benchmark compare`` keeps working on the same files.

A **step** is a sustained change between consecutive runs, not one outlier: at a split
between runs ``i - 1`` and ``i``, the median of up to ``STEP_WINDOW`` runs after it differs
from the median of up to ``STEP_WINDOW`` runs before it by more than the threshold, and every
one of at least ``STEP_MIN_RUNS`` runs after it (and before it) lies beyond half the step on
its side. A lone outlier fails the "every run after" test; a step at the newest run waits for
``STEP_MIN_RUNS`` runs to confirm it. Ratios (machine-independent) are what steps are judged
on; absolute times are shown beside, and their steps are marked as such (a runner of
another speed moves them).

A **series** is the runs of one dataset fingerprint and one environment (library versions,
server major version, backend and settings, machine kind; ``series_key``): runs of different
datasets or environments are never drawn as one line nor judged for steps across, so a
dataset change is never a step. The CPU model is left out of the key: hosted runners of one
label come with several, and ratios (what steps are judged on) survive it.

Runs are ordered by **commit**: by position on the first-parent history of a branch when a git
repository is given (``order_runs``), else by the commit time pytest-benchmark recorded, then
by when they ran.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
import statistics
import subprocess
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ormbench.errors import ConfigError, UnusableInputError
from ormbench.gate.comparable import environment
from ormbench.gate.config import DEFAULT_STEP_THRESHOLD
from ormbench.gate.runs import Run, expand, load_run, read_json
from ormbench.measure.paired import FLOOR

# Runs each side of a candidate split is judged on (median of at most this many).
STEP_WINDOW = 5
# Runs needed on each side of a split before a step is called sustained.
STEP_MIN_RUNS = 2
# Characters of the trend sparklines, lowest to highest.
SPARKS = "▁▂▃▄▅▆▇█"
# Keys dropped from runs kept in the store: large and not needed for trends or compare.
_STORE_DROP_EXTRA = ("sql", "plans")
# Environment keys that do not split a series (see the module docstring).
_SERIES_IGNORED = ("dataset fingerprint", "machine cpu", "machine cpu count")
# A run larger than this once stripped is refused by the store (its growth per run is bounded).
STORE_MAX_RUN_BYTES = 1 << 20
# Most x-axis labels a chart shows (every k-th run, and every run with a step).
MAX_X_LABELS = 20


@dataclass(frozen=True)
class Point:
    """One benchmark in one run."""

    ratio: float
    ci_low: float | None
    ci_high: float | None
    median_ms: float


@dataclass(frozen=True)
class Step:
    """A sustained change of a series at run ``index`` (the first run after it)."""

    index: int
    before: float
    after: float

    @property
    def change(self) -> float:
        return self.after / self.before - 1


def load_history(
    sources: Sequence[Path],
    last: int | None = None,
    git_repo: Path | None = None,
    branch: str = "main",
) -> tuple[list[Run], list[str]]:
    """Runs found in ``sources`` in commit order (``order_runs``), and what was skipped.

    ``last`` keeps the newest ``last`` of each series (``group_series``).

    A file named on its own must be usable (one line, exit 4, otherwise); unusable files found
    inside a directory are skipped and counted. The same run twice is refused: it would draw
    one measurement as two points of a trend.
    """
    runs, skipped = [], []
    named = {p for p in sources if not p.is_dir()}
    for path in expand(sources):
        try:
            runs.append(load_run(path))
        except UnusableInputError as exc:
            if path in named:
                raise
            skipped.append(str(exc).split(";")[0])
    if not runs:
        raise UnusableInputError(
            f"no ormbench runs in {', '.join(map(str, sources))}"
            + (f" ({len(skipped)} unusable file(s), e.g. {skipped[0]})" if skipped else "")
            + "; save runs with --benchmark-autosave or `ormbench history --append RUN.json`"
        )
    seen: dict[Any, Path] = {}
    for run in runs:
        key = _identity(run)
        if key in seen:
            raise UnusableInputError(
                f"{seen[key]} and {run.paths[0]} hold the same run (every sample identical); "
                "remove one of them"
            )
        seen[key] = run.paths[0]
    runs, off_branch = order_runs(runs, git_repo, branch)
    if off_branch:
        skipped.append(
            f"{len(off_branch)} run(s) of commits not on the first-parent history of {branch} "
            f"(e.g. {run_label(off_branch[0])})"
        )
    if last:
        keep = {id(r) for group in group_series(runs).values() for r in group[-last:]}
        runs = [r for r in runs if id(r) in keep]
    return runs, skipped


def commit_id(run: Run) -> str | None:
    """The run's full commit hash, or None (pytest-benchmark writes "unversioned" outside git)."""
    commit = str(run.commit_info.get("id") or "")
    return commit if re.fullmatch(r"[0-9a-f]{7,40}", commit) else None


def first_parent_commits(git_repo: Path, branch: str) -> list[str]:
    """Commits of ``branch``'s first-parent history, oldest first."""
    try:
        out = subprocess.run(
            ["git", "-C", str(git_repo), "rev-list", "--first-parent", "--reverse", branch],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        raise ConfigError(
            f"--git-repo {git_repo}: cannot list the history of {branch!r} "
            f"({detail.strip().splitlines()[-1] if detail.strip() else 'git failed'}); name a "
            "clone with its full history (fetch-depth: 0) and an existing --branch"
        ) from None
    return out.split()


def order_runs(
    runs: Sequence[Run], git_repo: Path | None = None, branch: str = "main"
) -> tuple[list[Run], list[Run]]:
    """Runs in commit order, and the runs left out (commits not on ``branch``'s history).

    With ``git_repo``: by position on the first-parent history of ``branch`` (a merge's runs
    follow the merge, never the commits of the merged branch). Without: by the commit time
    recorded in the run (``commit_info.time``), runs without one by when they ran. Runs of
    one commit keep the order they ran in.
    """
    if git_repo is None:

        def when(run: Run) -> tuple[str, str, str]:
            commit_time = str(run.commit_info.get("time") or "")
            return (_utc(commit_time) or _utc(run.datetime), run.datetime, str(run.paths[0]))

        return sorted(runs, key=when), []
    position = {c: i for i, c in enumerate(first_parent_commits(git_repo, branch))}

    def place(run: Run) -> int | None:
        commit = commit_id(run)
        if commit is None:
            return None
        if commit in position:
            return position[commit]
        matches = [i for c, i in position.items() if c.startswith(commit)]
        return matches[0] if len(matches) == 1 else None

    placed = [(place(r), r) for r in runs]
    on = sorted(
        ((i, r) for i, r in placed if i is not None),
        key=lambda p: (p[0], p[1].datetime, str(p[1].paths[0])),
    )
    return [r for _i, r in on], [r for i, r in placed if i is None]


def _utc(when: str) -> str:
    """An ISO time as sortable UTC text ("" when it cannot be read)."""
    try:
        moment = dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
    except ValueError:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat()


@dataclass(frozen=True)
class SeriesKey:
    """What a series' runs share: the dataset and the environment."""

    dataset: str
    environment: str
    details: tuple[tuple[str, str], ...]

    @property
    def name(self) -> str:
        """Short, file-name safe: ``tiny-e8011c56-env1a2b3c``."""
        return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{self.dataset}-env{self.environment}")

    def describe(self) -> str:
        shown = {k: v for k, v in self.details if not k.startswith("server setting")}
        return ", ".join(f"{k} {v}" for k, v in shown.items())


def series_key(run: Run) -> SeriesKey:
    """The series a run belongs to: its dataset (profile and fingerprint) and environment."""
    env = environment(run)
    profiles = sorted(
        {str(b.extra.get("dataset_profile") or "dataset") for b in run.benchmarks.values()}
    )
    fingerprints = sorted({str(b.dataset) for b in run.benchmarks.values() if b.dataset})
    dataset = "+".join(profiles) + "-" + "+".join(f[:8] for f in fingerprints)
    if not fingerprints:
        dataset = "unknown-dataset"
    details = tuple(sorted((k, v) for k, v in env.items() if k not in _SERIES_IGNORED))
    digest = hashlib.sha256(json.dumps(details).encode()).hexdigest()[:6]
    return SeriesKey(dataset, digest, details)


def group_series(runs: Sequence[Run]) -> dict[SeriesKey, list[Run]]:
    """Runs by series, each in the order given (never mixed: see the module docstring)."""
    groups: dict[SeriesKey, list[Run]] = {}
    for run in runs:
        groups.setdefault(series_key(run), []).append(run)
    return groups


def _identity(run: Run) -> Any:
    """What makes two files one measurement: their samples, benchmark by benchmark."""
    return tuple(sorted((n, b.ratio_samples, b.floor_samples) for n, b in run.benchmarks.items()))


def point(bench: Any) -> Point:
    """A benchmark's figures as history keeps them (the saved summary where it is sound)."""
    ratio = bench.extra.get("ratio")
    ratio = ratio if isinstance(ratio, dict) else {}

    def finite(key: str) -> float | None:
        value = ratio.get(key)
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return float(value) if ok and math.isfinite(value) else None

    median = finite("median")
    return Point(
        ratio=median if median is not None else bench.ratio_median,
        ci_low=finite("ci_low"),
        ci_high=finite("ci_high"),
        median_ms=bench.time_median_s * 1e3,
    )


def series(runs: Sequence[Run]) -> dict[str, list[Point | None]]:
    """Benchmark name -> its point in each run (None where a run lacks it)."""
    names = list(dict.fromkeys(n for r in runs for n in r.benchmarks))
    return {
        name: [point(r.benchmarks[name]) if name in r.benchmarks else None for r in runs]
        for name in names
    }


def find_steps(
    values: Sequence[float | None],
    threshold: float = DEFAULT_STEP_THRESHOLD,
    window: int = STEP_WINDOW,
    min_runs: int = STEP_MIN_RUNS,
) -> list[Step]:
    """Sustained changes in ``values`` (None: missing run, skipped), strongest first kept."""
    idx = [i for i, v in enumerate(values) if v is not None]
    xs = [float(values[i]) for i in idx]  # type: ignore[arg-type]
    candidates: list[tuple[float, int, float, float]] = []
    for k in range(min_runs, len(xs) - min_runs + 1):
        before, after = xs[max(0, k - window) : k], xs[k : k + window]
        b, a = statistics.median(before), statistics.median(after)
        if b <= 0 or abs(a / b - 1) <= threshold:
            continue
        middle = (a + b) / 2
        rising = a > b
        sustained = all((x > middle) == rising for x in after) and all(
            (x < middle) == rising for x in before[-min_runs:]
        )
        if sustained:
            candidates.append((abs(a / b - 1), k, b, a))
    steps: list[Step] = []
    taken: set[int] = set()
    for _size, k, b, a in sorted(candidates, reverse=True):
        if any(abs(k - t) < window for t in taken):
            continue  # the same step seen from a neighbouring split
        taken.add(k)
        steps.append(Step(idx[k], b, a))
    return sorted(steps, key=lambda s: s.index)


def sparkline(values: Sequence[float | None]) -> str:
    """Values as block characters (a gap for a missing run)."""
    present = [v for v in values if v is not None]
    if not present:
        return ""
    low, high = min(present), max(present)
    span = (high - low) or 1.0
    return "".join(
        " " if v is None else SPARKS[int((v - low) / span * (len(SPARKS) - 1))] for v in values
    )


def run_label(run: Run) -> str:
    """Short name of a run in tables and charts: its commit, else its file."""
    commit = commit_id(run)
    # pytest-benchmark writes "unversioned" outside a git checkout: the file says more then.
    return commit[:7] if commit else run.paths[0].stem


def run_date(run: Run) -> str:
    """The run's commit date (else when it ran), ``YYYY-MM-DD``."""
    return (_utc(str(run.commit_info.get("time") or "")) or _utc(run.datetime))[:10]


def x_labels(runs: Sequence[Run]) -> list[str]:
    """Distinct x labels: short hash and date; a commit's second run gets ``#2``."""
    labels, seen = [], defaultdict(int)
    for run in runs:
        base = f"{run_label(run)} {run_date(run)[5:]}".strip()
        seen[base] += 1
        labels.append(base if seen[base] == 1 else f"{base} #{seen[base]}")
    return labels


def render_trends(
    runs: Sequence[Run], threshold: float = DEFAULT_STEP_THRESHOLD, skipped: Iterable[str] = ()
) -> str:
    """The trend table of each series: per benchmark, ratio and absolute over runs, steps."""
    groups = group_series(runs)
    lines = [
        f"## ormbench history: {len(runs)} runs in {len(groups)} series",
        "",
        "A series is one dataset fingerprint and one environment; runs in commit order; a "
        f"step is a sustained change >{threshold:.0%} of the ratio over ≥{STEP_MIN_RUNS} runs "
        "on each side, never across series.",
        "",
    ]
    for key, group in groups.items():
        lines += _render_series(key, group, threshold)
    skipped = list(skipped)
    if skipped:
        lines += ["", f"{len(skipped)} file(s) skipped: " + "; ".join(skipped[:5])]
    return "\n".join(lines) + "\n"


def _render_series(key: SeriesKey, runs: Sequence[Run], threshold: float) -> list[str]:
    data = series(runs)
    first, last = runs[0], runs[-1]
    lines = [
        f"### {key.name}: {len(runs)} runs, {len(data)} benchmarks",
        "",
        f"dataset {key.dataset}; {key.describe()}",
        "",
        f"from {run_label(first)} ({run_date(first)}) to {run_label(last)} ({run_date(last)})",
        "",
    ]
    flagged = []
    rows = []
    for name, points in data.items():
        ratios = [p.ratio if p else None for p in points]
        times = [p.median_ms if p else None for p in points]
        steps = find_steps(ratios, threshold)
        abs_steps = find_steps(times, threshold)
        present = [p for p in points if p]
        step_text = "; ".join(
            f"**{s.change:+.1%} at {run_label(runs[s.index])}** (#{s.index + 1})" for s in steps
        )
        if abs_steps:
            step_text += ("; " if step_text else "") + "; ".join(
                f"abs {s.change:+.1%} at {run_label(runs[s.index])}" for s in abs_steps
            )
        if steps:
            flagged.append(name)
        rows.append(
            f"| `{name}` | {len(present)} | `{sparkline(ratios)}` | {present[0].ratio:.2f} → "
            f"{present[-1].ratio:.2f} | `{sparkline(times)}` | {present[0].median_ms:.2f} → "
            f"{present[-1].median_ms:.2f} | {step_text or '-'} |"
        )
    lines.append(
        f"**{len(flagged)} benchmark(s) with a ratio step**"
        + (": " + ", ".join(f"`{n}`" for n in flagged) if flagged else "")
    )
    return [
        *lines,
        "",
        "| benchmark | runs | ratio to dbapi | first → last | median ms | first → last | steps |",
        "|---|---:|---|---|---|---|---|",
        *rows,
        "",
    ]


def chart_steps(
    runs: Sequence[Run], threshold: float = DEFAULT_STEP_THRESHOLD
) -> dict[str, list[tuple[str, Step]]]:
    """Per series name: the ``(benchmark, step)`` pairs its charts mark (ratio steps)."""
    out: dict[str, list[tuple[str, Step]]] = {}
    for key, group in group_series(runs).items():
        out[key.name] = [
            (name, step)
            for name, points in series(group).items()
            for step in find_steps([p.ratio if p else None for p in points], threshold)
        ]
    return out


def write_charts(
    runs: Sequence[Run], directory: Path, threshold: float = DEFAULT_STEP_THRESHOLD
) -> list[Path]:
    """One PNG per scenario and series (``DIR/SERIES/SCENARIO.png``): ratio to dbapi by
    strategy over runs in commit order, a panel per page size (stacked, one x axis), each
    detected step marked with its commit."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a display
    import matplotlib.pyplot as plt

    written = []
    for key, group in group_series(runs).items():
        by_scenario: dict[str, dict[int, dict[str, list[Point | None]]]] = defaultdict(
            lambda: defaultdict(dict)
        )
        for name, points in series(group).items():
            bench = next(r.benchmarks[name] for r in group if name in r.benchmarks)
            # The floor is left out: its ratio to itself is 1 by construction.
            if bench.strategy == FLOOR or bench.scenario is None or bench.page_size is None:
                continue
            label = bench.strategy or name
            loader = bench.extra.get("json_loader")
            if loader and loader != "json":
                label += f" ({loader})"
            by_scenario[bench.scenario][int(bench.page_size)][label] = points
        labels = x_labels(group)
        n = len(group)
        for scenario, sizes in sorted(by_scenario.items()):
            rows = len(sizes)
            fig, axes = plt.subplots(
                rows,
                1,
                figsize=(max(9.0, min(18.0, 4 + 0.22 * n)), 1.2 + 3.0 * rows),
                squeeze=False,
                sharex=True,
            )
            step_xs: set[int] = set()
            for ax, (size, strategies) in zip(axes[:, 0], sorted(sizes.items()), strict=True):
                for label, points in sorted(strategies.items()):
                    xs = [i for i, p in enumerate(points) if p]
                    ys = [points[i].ratio for i in xs]  # type: ignore[union-attr]
                    (line,) = ax.plot(
                        xs, ys, marker="o" if n <= 30 else None, ms=3, lw=1.3, label=label
                    )
                    lows = [points[i].ci_low for i in xs]  # type: ignore[union-attr]
                    highs = [points[i].ci_high for i in xs]  # type: ignore[union-attr]
                    if all(v is not None for v in lows + highs):
                        ax.fill_between(xs, lows, highs, alpha=0.12, color=line.get_color())  # type: ignore[arg-type]
                    for step in find_steps([p.ratio if p else None for p in points], threshold):
                        step_xs.add(step.index)
                        ax.axvline(step.index - 0.5, color=line.get_color(), ls=":", lw=1.2)
                        ax.annotate(
                            f"{step.change:+.0%} at {run_label(group[step.index])}",
                            (step.index - 0.5, step.after),
                            xytext=(4, 6),
                            textcoords="offset points",
                            fontsize=7,
                            color=line.get_color(),
                        )
                ax.axhline(1.0, color="grey", lw=0.8, ls="--")
                ax.set_title(f"page size {size}", fontsize=9, loc="left")
                ax.set_ylabel(f"x {FLOOR}")
                ax.grid(alpha=0.3)
                ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
            every = max(1, math.ceil(n / MAX_X_LABELS))
            ticks = sorted({i for i in range(n) if i % every == 0 or i == n - 1} | step_xs)
            bottom = axes[-1][0]
            bottom.set_xticks(ticks, [labels[i] for i in ticks], rotation=60, fontsize=7)
            bottom.set_xlim(-0.5, n - 0.5)
            fig.suptitle(
                f"{scenario}: ratio to {FLOOR} (median, 95% CI) · {key.dataset} · "
                f"env {key.environment} · {n} runs in commit order",
                fontsize=10,
            )
            fig.tight_layout()
            out = directory / key.name
            out.mkdir(parents=True, exist_ok=True)
            path = out / f"{scenario}.png"
            fig.savefig(path, dpi=100)
            plt.close(fig)
            written.append(path)
    return written


def github_benchmark(run: Run) -> list[dict[str, Any]]:
    """The run's ratios in github-action-benchmark's ``customSmallerIsBetter`` format."""
    out = []
    for name, bench in run.benchmarks.items():
        if bench.strategy == FLOOR:
            continue
        p = point(bench)
        entry: dict[str, Any] = {
            "name": name,
            "unit": f"x {FLOOR}",
            "value": round(p.ratio, 4),
            "extra": f"median {p.median_ms:.3f} ms; {len(bench.ratio_samples)} paired rounds",
        }
        if p.ci_low is not None and p.ci_high is not None:
            entry["range"] = f"{p.ci_low:.3f}-{p.ci_high:.3f}"
        out.append(entry)
    return out


def append_run(run_path: Path, store: Path, keep: int | None = None) -> Path:
    """Copy a run into the history store; prune to the newest ``keep``.

    What a run adds is bounded: SQL text, plans and CPU flags are dropped, the JSON is
    compact, and a run over ``STORE_MAX_RUN_BYTES`` is refused (docs/gate.md, "History")."""
    run = load_run(run_path)  # refuse what the gate would refuse
    doc = read_json(run_path)
    for bench in doc["benchmarks"]:
        for key in _STORE_DROP_EXTRA:
            (bench.get("extra_info") or {}).pop(key, None)
    (doc.get("machine_info", {}).get("cpu") or {}).pop("flags", None)
    text = json.dumps(doc, separators=(",", ":")) + "\n"
    if len(text) > STORE_MAX_RUN_BYTES:
        raise UnusableInputError(
            f"{run_path}: {len(text) // 1024} KiB once stripped, more than the store's "
            f"{STORE_MAX_RUN_BYTES // 1024} KiB per run; append a run of the gate subset "
            "(`pytest $(ormbench gate-args) --benchmark-json=run.json`)"
        )
    stamp = _stamp(run.datetime)
    store.mkdir(parents=True, exist_ok=True)
    target = store / f"{stamp}_{run_label(run)}.json"
    target.write_text(text)
    if keep:
        kept = sorted(store.glob("*.json"))
        for old in kept[: max(0, len(kept) - keep)]:
            old.unlink()
    return target


def _stamp(when: str) -> str:
    try:
        moment = dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
    except ValueError:
        moment = dt.datetime.now(dt.UTC)
    return re.sub(r"[^0-9T]", "", moment.strftime("%Y%m%dT%H%M%S"))


__all__ = [
    "STEP_MIN_RUNS",
    "STEP_WINDOW",
    "Point",
    "Step",
    "append_run",
    "chart_steps",
    "find_steps",
    "github_benchmark",
    "group_series",
    "load_history",
    "order_runs",
    "render_trends",
    "series",
    "series_key",
    "sparkline",
    "write_charts",
]
