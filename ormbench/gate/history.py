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
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ormbench.errors import UnusableInputError
from ormbench.gate.config import DEFAULT_STEP_THRESHOLD
from ormbench.gate.runs import Run, expand, load_run, read_json

# Runs each side of a candidate split is judged on (median of at most this many).
STEP_WINDOW = 5
# Runs needed on each side of a split before a step is called sustained.
STEP_MIN_RUNS = 2
# Characters of the trend sparklines, lowest to highest.
SPARKS = "▁▂▃▄▅▆▇█"
# The floor is left out of charts and exports: its ratio to itself is 1 by construction.
FLOOR = "dbapi_fetchall"
# Keys dropped from runs kept in the store: large and not needed for trends or compare.
_STORE_DROP_EXTRA = ("sql",)


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


def load_history(sources: Sequence[Path], last: int | None = None) -> tuple[list[Run], list[str]]:
    """Runs found in ``sources``, oldest first (the newest ``last``), and what was skipped.

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
    runs.sort(key=lambda r: (r.datetime, str(r.paths[0])))
    return (runs[-last:] if last else runs), skipped


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
    commit = str(run.commit_info.get("id") or "")
    # pytest-benchmark writes "unversioned" outside a git checkout: the file says more then.
    return commit[:7] if re.fullmatch(r"[0-9a-f]{7,40}", commit) else run.paths[0].stem


def render_trends(
    runs: Sequence[Run], threshold: float = DEFAULT_STEP_THRESHOLD, skipped: Iterable[str] = ()
) -> str:
    """The trend table: per benchmark, ratio and absolute over runs, and its steps."""
    data = series(runs)
    first, last = runs[0], runs[-1]
    lines = [
        f"## ormbench history: {len(runs)} runs, {len(data)} benchmarks",
        "",
        f"from {run_label(first)} ({first.datetime[:19]}) to {run_label(last)} "
        f"({last.datetime[:19]}); a step is a sustained change >{threshold:.0%} of the ratio "
        f"over ≥{STEP_MIN_RUNS} runs on each side",
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
    lines += [
        "",
        "| benchmark | runs | ratio to dbapi | first → last | median ms | first → last | steps |",
        "|---|---:|---|---|---|---|---|",
        *rows,
    ]
    skipped = list(skipped)
    if skipped:
        lines += ["", f"{len(skipped)} file(s) skipped: " + "; ".join(skipped[:5])]
    return "\n".join(lines) + "\n"


def write_charts(runs: Sequence[Run], directory: Path) -> list[Path]:
    """One PNG per scenario: ratio to dbapi by strategy over runs, a panel per page size."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a display
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    by_scenario: dict[str, dict[int, dict[str, list[Point | None]]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for name, points in series(runs).items():
        bench = next(r.benchmarks[name] for r in runs if name in r.benchmarks)
        if bench.strategy == FLOOR or bench.scenario is None or bench.page_size is None:
            continue
        label = bench.strategy or name
        loader = bench.extra.get("json_loader")
        if loader and loader != "json":
            label += f" ({loader})"
        by_scenario[bench.scenario][int(bench.page_size)][label] = points
    labels = [run_label(r) for r in runs]
    written = []
    for scenario, sizes in sorted(by_scenario.items()):
        fig, axes = plt.subplots(
            1, len(sizes), figsize=(6 * len(sizes), 4.5), squeeze=False, sharey=False
        )
        for ax, (size, strategies) in zip(axes[0], sorted(sizes.items()), strict=True):
            for label, points in strategies.items():
                xs = [i for i, p in enumerate(points) if p]
                ax.plot(xs, [points[i].ratio for i in xs], marker="o", ms=3, label=label)  # type: ignore[union-attr]
                lows = [points[i].ci_low for i in xs]  # type: ignore[union-attr]
                highs = [points[i].ci_high for i in xs]  # type: ignore[union-attr]
                if all(v is not None for v in lows + highs):
                    ax.fill_between(xs, lows, highs, alpha=0.15)  # type: ignore[arg-type]
            ax.axhline(1.0, color="grey", lw=0.8, ls="--")
            ax.set_title(f"{scenario}, page size {size}")
            ax.set_ylabel(f"ratio to {FLOOR} (median, 95% CI)")
            ax.set_xticks(range(len(labels)), labels, rotation=60, fontsize=7)
            ax.grid(alpha=0.3)
        axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.tight_layout()
        path = directory / f"{scenario}.png"
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
    """Copy a run into the history store (SQL text dropped); prune to the newest ``keep``."""
    run = load_run(run_path)  # refuse what the gate would refuse
    doc = read_json(run_path)
    for bench in doc["benchmarks"]:
        for key in _STORE_DROP_EXTRA:
            (bench.get("extra_info") or {}).pop(key, None)
    (doc.get("machine_info", {}).get("cpu") or {}).pop("flags", None)
    stamp = _stamp(run.datetime)
    store.mkdir(parents=True, exist_ok=True)
    target = store / f"{stamp}_{run_label(run)}.json"
    target.write_text(json.dumps(doc, indent=1) + "\n")
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
    "find_steps",
    "github_benchmark",
    "load_history",
    "render_trends",
    "series",
    "sparkline",
    "write_charts",
]
