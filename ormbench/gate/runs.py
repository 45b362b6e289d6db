"""Saved benchmark runs: read, validate and merge pytest-benchmark JSON written by ormbench.

A *run* is one ``--benchmark-json`` file (or a file of pytest-benchmark's ``.benchmarks/``
storage). A *side* is what the gate compares: one run, or several runs of the same code
alternated with the other side's (``ormbench gate base/ head/``), merged benchmark by
benchmark: paired samples are pooled, deterministic counters must agree.

Every way a file can be unusable has its own one-line ``UnusableInputError`` (exit 4), naming
the file and the command that writes a usable one.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ormbench.errors import UnusableInputError

# The command that writes a file the gate can read; every unusable-input message names it.
RUN_COMMAND = "pytest benchmarks/test_strategies.py -m gate --benchmark-only --benchmark-json=FILE"
# pytest-benchmark's default --benchmark-storage, where run ids like 0001 are looked up.
DEFAULT_STORAGE = "file://./.benchmarks"
# A run id of that storage: its counter, optionally with the rest of its file name.
_RUN_ID = re.compile(r"^\d{4}(_[^/]*)?$")
# extra_info keys without which a benchmark is not one of ormbench's paired benchmarks.
PAIRED_KEYS = ("ratio_samples", "statements", "rows_fetched", "calls")
# Largest results file read, in bytes: a gate run of 24 benchmarks is well under 1 MB and a
# 2,000-round run of the whole matrix a few MB; reading stops here (a device such as
# /dev/zero, or a log saved by mistake, is refused instead of read forever).
MAX_RUN_BYTES = 64 * 1024 * 1024
# Deepest nesting of a results file: pytest-benchmark's layout plus plan shapes of deep joins
# stay under 40 levels; deeper is not a results file (and would exhaust recursion later).
MAX_DEPTH = 200


@dataclass(frozen=True)
class Bench:
    """One benchmark of one side: its identity, deterministic counters and paired samples."""

    name: str
    group: str | None
    extra: Mapping[str, Any]
    ratio_samples: tuple[float, ...]
    floor_samples: tuple[float, ...]
    time_median_s: float
    runs: int = 1
    notes: tuple[str, ...] = ()
    # Paired ratios of CPU time (ormbench.measure.cpu), one per round as ratio_samples; empty
    # when the run could not read every process serving the benchmark.
    cpu_ratio_samples: tuple[float, ...] = ()
    # Rounds of each run pooled into this side, in order (one run: one entry): round i of a
    # run of base took turns with round i of the same look's run of head.
    run_rounds: tuple[int, ...] = ()

    @property
    def statements(self) -> int:
        return int(self.extra["statements"])

    @property
    def rows_fetched(self) -> int:
        return int(self.extra["rows_fetched"])

    @property
    def rows(self) -> int | None:
        rows = self.extra.get("rows")
        return None if rows is None else int(rows)

    @property
    def calls(self) -> float:
        return float(self.extra["calls"])

    @property
    def plans(self) -> list[Any] | None:
        """Normalized plan shapes, one per statement, when the run recorded them."""
        plans = self.extra.get("plans")
        return list(plans) if isinstance(plans, list) else None

    @property
    def sql(self) -> list[str]:
        return list(self.extra.get("sql") or [])

    @property
    def dataset(self) -> str | None:
        return self.extra.get("dataset")

    @property
    def scenario(self) -> str | None:
        return self.extra.get("scenario")

    @property
    def strategy(self) -> str | None:
        return self.extra.get("strategy")

    @property
    def page_size(self) -> int | None:
        return self.extra.get("page_size")

    @property
    def ratio_median(self) -> float:
        return statistics.median(self.ratio_samples)

    def ratio_of(self, metric: str) -> tuple[float, ...]:
        """Paired ratios to the floor by ``metric``'s clock (``cpu`` or ``wall``)."""
        return self.cpu_ratio_samples if metric == "cpu" else self.ratio_samples


@dataclass
class Run:
    """One saved run (or a side merged from several): its benchmarks and what they depend on."""

    paths: tuple[Path, ...]
    benchmarks: dict[str, Bench]
    machine_info: Mapping[str, Any]
    commit_info: Mapping[str, Any]
    datetime: str
    skipped: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """Commit (short) and branch, or the file name: how the report names this side."""
        commit = str(self.commit_info.get("id") or "")[:7]
        branch = self.commit_info.get("branch")
        dirty = "+dirty" if self.commit_info.get("dirty") else ""
        if commit:
            return f"{commit}{dirty}" + (f" ({branch})" if branch else "")
        return ", ".join(p.name for p in self.paths)

    @property
    def ormbench(self) -> Mapping[str, Any]:
        return self.machine_info.get("ormbench") or {}


def _unusable(path: Path, what: str) -> UnusableInputError:
    return UnusableInputError(f"{path}: {what}; write one with `{RUN_COMMAND}`")


def read_json(path: Path) -> Any:
    """The parsed document of ``path``; each way of failing has its own message."""
    if not path.exists():
        raise _unusable(path, "no such file")
    if path.is_dir():
        raise _unusable(path, "is a directory, expected a results file")
    try:
        with path.open("rb") as f:
            text = f.read(MAX_RUN_BYTES + 1)
    except OSError as exc:
        raise _unusable(path, f"cannot be read ({exc.strerror})") from None
    if len(text) > MAX_RUN_BYTES:
        raise _unusable(
            path, f"is larger than {MAX_RUN_BYTES // 2**20} MiB, far more than any results file"
        )
    if not text.strip():
        raise _unusable(path, "is empty (did the run that writes it fail or get interrupted?)")
    try:
        doc = json.loads(text)
    except UnicodeDecodeError:
        raise _unusable(path, "is not text, so not a pytest-benchmark results file") from None
    except RecursionError:
        raise _unusable(path, "nests too deeply to be a pytest-benchmark results file") from None
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()) - 1:
            raise _unusable(
                path, f"is truncated: the JSON ends early at line {exc.lineno} ({exc.msg})"
            ) from None
        raise _unusable(
            path, f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if _depth(doc) > MAX_DEPTH:
        raise _unusable(
            path, f"nests more than {MAX_DEPTH} levels deep, not a pytest-benchmark results file"
        )
    return doc


def _depth(doc: Any) -> int:
    """How deep lists and objects nest in ``doc`` (iterative: no recursion limit to hit)."""
    deepest, stack = 0, [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            deepest = max(deepest, depth)
            if depth <= MAX_DEPTH:
                stack.extend((child, depth + 1) for child in node)
    return deepest


def load_run(path: Path) -> Run:
    """Read one run; refuse anything that is not ormbench's pytest-benchmark JSON."""
    doc = read_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise _unusable(path, "is not a pytest-benchmark results file (no 'benchmarks' list)")
    machine = doc.get("machine_info")
    if not isinstance(machine, dict) or not isinstance(machine.get("ormbench"), dict):
        raise _unusable(
            path,
            "was not written with ormbench's pytest plugin (no machine_info.ormbench: the "
            "environment it ran in is unknown)",
        )
    if not doc["benchmarks"]:
        raise _unusable(path, "holds no benchmarks (did -k or -m select none?)")
    benches: dict[str, Bench] = {}
    skipped: list[str] = []
    for raw in doc["benchmarks"]:
        bench = _bench(path, raw)
        if bench is None:
            skipped.append(str(raw.get("name", "?")))
            continue
        if bench.name in benches:
            raise _unusable(path, f"holds benchmark {bench.name!r} twice")
        benches[bench.name] = bench
    if not benches:
        raise _unusable(
            path,
            "holds no paired ormbench benchmark (no extra_info.ratio_samples: saved by another "
            "suite, or by an ormbench older than paired measurement)",
        )
    return Run(
        paths=(path,),
        benchmarks=benches,
        machine_info=machine,
        commit_info=doc["commit_info"] if isinstance(doc.get("commit_info"), dict) else {},
        datetime=str(doc.get("datetime") or ""),
        skipped=skipped,
    )


def _bench(path: Path, raw: Any) -> Bench | None:
    if not isinstance(raw, dict) or "name" not in raw:
        raise _unusable(path, "has a benchmark entry without a name")
    extra = raw.get("extra_info") or {}
    if not isinstance(extra, dict):
        raise _unusable(path, f"benchmark {raw['name']!r} has an extra_info that is not an object")
    if not all(k in extra for k in PAIRED_KEYS):
        return None  # not a paired benchmark (e.g. provisioning): reported, not gated
    name = str(raw["name"])
    samples = extra["ratio_samples"]
    if not isinstance(samples, list) or not samples:
        raise _unusable(path, f"benchmark {name!r} has no ratio samples")
    for key in ("statements", "rows_fetched", "calls"):
        _number(path, name, key, extra[key])
    stats = raw.get("stats") or {}
    median = stats.get("median", math.nan) if isinstance(stats, dict) else math.nan
    ratios = _samples(path, name, "ratio_samples", samples)
    floors = _samples(path, name, "floor_samples", extra.get("floor_samples") or [])
    cpu = _samples(path, name, "cpu_ratio_samples", extra.get("cpu_ratio_samples") or [])
    cpu_floors = _samples(path, name, "cpu_floor_samples", extra.get("cpu_floor_samples") or [])
    for key, values in (("floor_samples", floors), ("cpu_ratio_samples", cpu)):
        if values and len(values) != len(ratios):
            raise _unusable(
                path, f"benchmark {name!r} has {len(values)} {key} for {len(ratios)} rounds"
            )
    if len(cpu_floors) != len(cpu):
        raise _unusable(
            path, f"benchmark {name!r} has {len(cpu_floors)} cpu_floor_samples for {len(cpu)}"
        )
    return Bench(
        name=str(extra.get("id") or raw.get("param") or raw["name"]),
        group=raw.get("group") if isinstance(raw.get("group"), str) else None,
        extra=extra,
        ratio_samples=ratios,
        floor_samples=floors,
        time_median_s=_number(path, name, "stats.median", median, allow_nan=True),
        cpu_ratio_samples=cpu,
        run_rounds=(len(ratios),),
    )


def _number(path: Path, name: str, key: str, value: Any, *, allow_nan: bool = False) -> float:
    """A finite number (``allow_nan``: or NaN, for a figure only shown), else one line."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _unusable(path, f"benchmark {name!r} has a non-numeric {key}: {value!r:.40}")
    if not math.isfinite(value) and not (allow_nan and math.isnan(value)):
        raise _unusable(path, f"benchmark {name!r} has {key} {value}, not a finite number")
    return float(value)


def _samples(path: Path, name: str, key: str, values: Any) -> tuple[float, ...]:
    """Positive finite samples: a NaN or a string cannot be ranked, so it is refused."""
    if not isinstance(values, list):
        raise _unusable(path, f"benchmark {name!r} has {key} that is not a list")
    out = []
    for n, value in enumerate(values):
        x = _number(path, name, f"{key}[{n}]", value)
        if x <= 0:
            raise _unusable(path, f"benchmark {name!r} has {key}[{n}] = {x:g}, not positive")
        out.append(x)
    return tuple(out)


def expand(paths: Iterable[Path]) -> list[Path]:
    """Files named, plus every ``*.json`` below each directory named, in a stable order."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*.json") if p.is_file())
            if not found:
                raise UnusableInputError(
                    f"{path}: directory holds no *.json results; write them with `{RUN_COMMAND}`"
                )
            out.extend(found)
        else:
            out.append(path)
    return out


def storage_dir(storage: str | Path) -> Path:
    """A ``--benchmark-storage`` value (``file://PATH`` or ``PATH``) as a directory."""
    text = str(storage)
    if text.startswith("file://"):
        return Path(text[len("file://") :])
    if "://" in text:
        raise UnusableInputError(
            f"--benchmark-storage {text}: only file storage can be read; "
            "pass the runs' JSON files instead"
        )
    return Path(text)


def resolve_input(arg: Path, storage: str | Path = DEFAULT_STORAGE) -> Path:
    """A file or directory as named; else a run of pytest-benchmark's storage by its id
    (``0001`` or ``0001_name``, as ``--benchmark-compare`` takes it)."""
    text = str(arg)
    if arg.exists() or not _RUN_ID.match(text):
        return arg
    root = storage_dir(storage)
    pattern = f"{text}_*.json" if text.isdigit() else f"{text}*.json"
    found = sorted({*root.glob(f"*/{pattern}"), *root.glob(pattern)})
    if len(found) == 1:
        return found[0]
    if not found:
        raise UnusableInputError(
            f"{text}: no such file, and no run {text} in {root} (pytest-benchmark's storage); "
            "save runs with --benchmark-autosave, or name another storage with "
            "--benchmark-storage"
        )
    raise UnusableInputError(
        f"{text}: {len(found)} runs match in {root} ({', '.join(str(p) for p in found)}); "
        "name the file"
    )


__all__ = [
    "MAX_DEPTH",
    "MAX_RUN_BYTES",
    "PAIRED_KEYS",
    "RUN_COMMAND",
    "Bench",
    "Run",
    "expand",
    "load_run",
]
