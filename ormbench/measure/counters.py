"""Deterministic counters of one warm execution: Python calls (cProfile), peak memory, and the
profile's Python time split by owner (SQLAlchemy, psycopg, JSON, the strategy's own code)."""

from __future__ import annotations

import cProfile
import gc
import os
import pstats
import tracemalloc
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


def call_count(fn: Callable[[], Any]) -> int:
    """Python function calls made by one execution of ``fn`` (run it once before, warm)."""
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        fn()
    finally:
        profiler.disable()
    return pstats.Stats(profiler).total_calls  # type: ignore[attr-defined]


def peak_memory(fn: Callable[[], Any]) -> int:
    """Peak bytes Python allocated during one execution of ``fn`` (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak


# Owners of Python time in a profile, by where a function's code lives. Functions of the
# standard library and built-ins have no owner of their own: their time goes to their callers
# (a ``copy.deepcopy`` called per row by the strategy is the strategy's time).
OWNER_SQLALCHEMY = "SQLAlchemy"
OWNER_PSYCOPG = "psycopg"
OWNER_JSON = "JSON"
OWNER_ORMBENCH = "ormbench"
OWNER_OTHER = "other libraries"
# Prefix of the owner naming a strategy's own module: ``strategy code (<module>)``.
STRATEGY_OWNER = "strategy code"
_STDLIB = os.path.dirname(os.__file__)


@dataclass(frozen=True)
class OwnerShare:
    """One owner's part of a profiled execution: exclusive seconds and calls."""

    seconds: float
    calls: int


@dataclass(frozen=True)
class Profile:
    """Python calls of one execution, and its time split by owner (``owners``)."""

    calls: int
    owners: dict[str, OwnerShare]

    @property
    def seconds(self) -> float:
        return sum(o.seconds for o in self.owners.values())

    def call_share(self, owner: str, *, without: tuple[str, ...] = ()) -> float:
        """``owner``'s fraction of the calls, leaving the ``without`` owners out."""
        total = sum(o.calls for n, o in self.owners.items() if n not in without)
        return self.owners[owner].calls / total if total and owner in self.owners else 0.0

    def share(self, owner: str, *, without: tuple[str, ...] = ()) -> float:
        """``owner``'s fraction of the profiled time, leaving the ``without`` owners out."""
        total = sum(o.seconds for n, o in self.owners.items() if n not in without)
        return self.owners[owner].seconds / total if total and owner in self.owners else 0.0


def _owner_of(filename: str, own_files: Mapping[str, str]) -> str | None:
    """The owner of code in ``filename``; None when its time belongs to its caller."""
    if filename in own_files:
        return own_files[filename]
    path = filename.replace("\\", "/")
    if "/sqlalchemy/" in path:
        return OWNER_SQLALCHEMY
    if "/psycopg" in path:
        return OWNER_PSYCOPG
    if "/orjson" in path or path.endswith("ormbench/jsonload.py") or "/json/" in path:
        return OWNER_JSON
    if "/ormbench/" in path:
        return OWNER_ORMBENCH
    builtin = filename == "~" or filename.startswith("<")
    if builtin or (filename.startswith(_STDLIB) and "site-packages" not in path):
        return None
    return OWNER_OTHER


def profile(fn: Callable[[], Any], own_files: Mapping[str, str] | None = None) -> Profile:
    """Profile one execution of ``fn`` (cProfile) and split its time by owner.

    ``own_files`` maps source files to the owner their code is named by (the strategy's own
    module, e.g. ``{"/src/traps.py": "strategy code (traps)"}``).
    """
    own = dict(own_files or {})
    gc.collect()  # a collection the execution's own garbage triggers still lands in it
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        fn()
    finally:
        profiler.disable()
    stats = pstats.Stats(profiler)
    entries: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    memo: dict[Any, dict[str, float]] = {}

    def owners(func: Any) -> dict[str, float]:
        """Fractions of ``func``'s time each owner is charged with: its own owner, else the
        owned code that called into it, through any chain (or cycle) of ownerless callers,
        weighted by the time of each such call."""
        owner = _owner_of(func[0], own)
        if owner is not None:
            return {owner: 1.0}
        if func in memo:
            return memo[func]
        found: dict[str, float] = {}
        stack, seen = [func], {func}
        while stack:
            callee = stack.pop()
            for caller, edge in entries.get(callee, (0, 0, 0, 0, {}))[4].items():
                name = _owner_of(caller[0], own)
                if name is not None:
                    found[name] = found.get(name, 0.0) + (edge[3] or 1e-9)
                elif caller not in seen:
                    seen.add(caller)
                    stack.append(caller)
        total = sum(found.values())
        memo[func] = {n: w / total for n, w in found.items()} if total else {OWNER_OTHER: 1.0}
        return memo[func]

    seconds: dict[str, float] = {}
    calls: dict[str, float] = {}
    for func, (_cc, nc, tt, _ct, _callers) in entries.items():
        for name, part in owners(func).items():
            seconds[name] = seconds.get(name, 0.0) + tt * part
            calls[name] = calls.get(name, 0.0) + nc * part
    return Profile(
        stats.total_calls,  # type: ignore[attr-defined]
        {n: OwnerShare(seconds[n], round(calls[n])) for n in sorted(seconds)},
    )
