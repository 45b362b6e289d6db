"""A side of a comparison: the runs of one code version, merged into one.

Above ``runs`` (reading one run) and ``comparable``/``protocol`` (whether runs may be pooled),
so that imports run one way: sides -> comparable, protocol -> runs.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path

from ormbench.errors import UnusableInputError
from ormbench.gate.comparable import check_comparable, same_samples
from ormbench.gate.protocol import differences, of_run
from ormbench.gate.runs import DEFAULT_STORAGE, Bench, Run, expand, load_run, resolve_input


def load_side(paths: Sequence[Path], storage: str | Path = DEFAULT_STORAGE) -> Run:
    """One side of a comparison: the runs in ``paths`` (files, directories or storage ids),
    merged."""
    runs = [load_run(p) for p in expand(resolve_input(p, storage) for p in paths)]
    return merge(runs)


def merge(runs: Sequence[Run]) -> Run:
    """Runs of the same code, as one: samples pooled, counters checked for agreement."""
    if len(runs) == 1:
        return runs[0]
    for n, run in enumerate(runs):
        for other in runs[n + 1 :]:
            if same_samples(run, other):
                raise UnusableInputError(
                    f"{run.paths[0]} and {other.paths[0]}, runs of one side, hold the same run "
                    "(every sample identical); remove one: pooled twice it would count its "
                    "rounds twice"
                )
    for other in runs[1:]:
        check_comparable(runs[0], other, allow_env_change=False, what="runs of one side")
        diff = differences(of_run(runs[0]), of_run(other), looks=True)
        if diff:
            raise UnusableInputError(
                f"{runs[0].paths[0]} and {other.paths[0]}, runs of one side, were measured under "
                f"different protocols ({'; '.join(diff)}); make every run of a side with the same "
                "ormbench and options (`ormbench gate-args`)"
            )
    names = list(dict.fromkeys(n for r in runs for n in r.benchmarks))
    merged: dict[str, Bench] = {}
    for name in names:
        present = [r.benchmarks[name] for r in runs if name in r.benchmarks]
        merged[name] = _merge_bench(present, len(runs))
    first = runs[0]
    return Run(
        paths=tuple(p for r in runs for p in r.paths),
        benchmarks=merged,
        machine_info=first.machine_info,
        commit_info=first.commit_info,
        datetime=max(r.datetime for r in runs),
        skipped=sorted({s for r in runs for s in r.skipped}),
    )


def _merge_bench(benches: Sequence[Bench], total_runs: int) -> Bench:
    first = benches[0]
    notes: list[str] = []
    if len(benches) < total_runs:
        notes.append(f"in {len(benches)} of {total_runs} runs of this side")
    extra = dict(first.extra)
    for key in ("statements", "rows_fetched", "rows", "plans"):
        values = [b.extra.get(key) for b in benches]
        if any(v != values[0] for v in values[1:]):
            # Nondeterministic within one side: say so; the most common value is compared.
            shown = sorted({json.dumps(v, sort_keys=True)[:40] for v in values})
            notes.append(f"{key} differs between runs of this side: {', '.join(shown)}")
            extra[key] = max(values, key=lambda v: sum(w == v for w in values))
    extra["calls"] = statistics.median(b.calls for b in benches)
    return Bench(
        name=first.name,
        group=first.group,
        extra=extra,
        ratio_samples=tuple(x for b in benches for x in b.ratio_samples),
        floor_samples=tuple(x for b in benches for x in b.floor_samples),
        time_median_s=statistics.median(b.time_median_s for b in benches),
        runs=len(benches),
        notes=tuple(notes),
        # CPU samples count only when every pooled run has them (else wall time decides).
        cpu_ratio_samples=(
            tuple(x for b in benches for x in b.cpu_ratio_samples)
            if all(b.cpu_ratio_samples for b in benches)
            else ()
        ),
        run_rounds=tuple(n for b in benches for n in b.run_rounds),
    )
