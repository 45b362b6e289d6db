"""Comparable runs only: base and head may differ in the code under test and nothing else.

What a run's figures depend on besides the code is recorded by ormbench's plugin in
``machine_info["ormbench"]`` (library versions, server version, backend and settings) and by
every benchmark (the dataset fingerprint). Two runs are comparable when all of these agree,
the server up to its minor version, and when they ran on the same kind of machine.

The ormbench version is deliberately *not* compared: on ormbench's own pull requests the
harness is the code under test (a change to how rounds are paired must show in the gate),
and anywhere else both sides run the same checkout of the suite anyway. It is shown in the
report header when it differs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ormbench.errors import UnusableInputError

if TYPE_CHECKING:
    from ormbench.gate.runs import Run

# Versions that are environment, not code under test (the keys of runinfo.versions()).
ENV_VERSIONS = (
    "python",
    "SQLAlchemy",
    "psycopg",
    "psycopg-binary",
    "pytest-benchmark",
    "orjson",
    "factory-boy",
)
# machine_info keys of pytest-benchmark that identify the machine (ratios survive a faster
# machine of the same kind better than absolute times, but not a different CPU vendor).
MACHINE_KEYS = ("system", "machine", "python_implementation")
# What to run so that base and head are comparable (shown in the refusal).
COMPARABLE_COMMAND = (
    "run base and head in one job on one machine, with the same venv dependencies and the "
    'same server (`eval "$(ormbench up)"`): `ormbench gate-run BASE_CHECKOUT HEAD_CHECKOUT '
    "--out results`, or in each checkout `pytest $(ormbench gate-args) "
    "--benchmark-json=SIDE.json` with the gate policy of ormbench-gate.toml (docs/gate.md)"
)


def environment(run: Run) -> dict[str, str]:
    """Everything the figures depend on besides the code, flattened to ``key -> value``."""
    info = run.ormbench
    env: dict[str, str] = {}
    versions: Mapping[str, Any] = info.get("versions") or {}
    for key in ENV_VERSIONS:
        if key in versions:
            env[key] = str(versions[key])
    server: Mapping[str, Any] = info.get("server") or {}
    if server:
        version = str(server.get("version", "?"))
        env["server major version"] = version.split(".")[0]
        env["server backend"] = str(server.get("backend", "?"))
        for name, value in sorted((server.get("settings") or {}).items()):
            env[f"server setting {name}"] = str(value)
    cpu = run.machine_info.get("cpu") or {}
    for key in MACHINE_KEYS:
        if key in run.machine_info:
            env[f"machine {key}"] = str(run.machine_info[key])
    if cpu.get("brand_raw"):
        env["machine cpu"] = str(cpu["brand_raw"])
    if cpu.get("count"):
        env["machine cpu count"] = str(cpu["count"])
    datasets = sorted({b.dataset for b in run.benchmarks.values() if b.dataset})
    if datasets:
        env["dataset fingerprint"] = ",".join(datasets)
    # settle_ms and the rest of the measurement protocol are not environment: a protocol
    # change is judged by ormbench.gate.protocol (no timing verdict), not refused.
    return env


def differences(base: Run, head: Run) -> list[tuple[str, str, str]]:
    """``(key, base value, head value)`` for every environment key that differs."""
    a, b = environment(base), environment(head)
    out = []
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            out.append((key, a.get(key, "(not recorded)"), b.get(key, "(not recorded)")))
    return out


def check_distinct(base: Run, head: Run) -> None:
    """Refuse base and head that are one run: the same file, or the same samples throughout.

    Two measurements never repeat every per-round sample; a comparison of a run with itself
    would read "unchanged" everywhere and vouch for nothing."""
    for a in base.paths:
        for b in head.paths:
            if a.exists() and b.exists() and a.resolve() == b.resolve():
                raise UnusableInputError(
                    f"{a}: given as both base and head; compare the base run with the head run"
                )
    if same_samples(base, head):
        where = f"{', '.join(map(str, base.paths))} and {', '.join(map(str, head.paths))}"
        raise UnusableInputError(
            f"{where} hold the same run (every sample identical in all "
            f"{len(set(base.benchmarks) & set(head.benchmarks))} common benchmarks); compare "
            "the base run with the head run"
        )


def same_samples(a: Run, b: Run) -> bool:
    """Every benchmark the two runs share has the same per-round samples: one measurement."""
    common = [n for n in a.benchmarks if n in b.benchmarks]
    return bool(common) and all(
        a.benchmarks[n].ratio_samples == b.benchmarks[n].ratio_samples
        and a.benchmarks[n].floor_samples == b.benchmarks[n].floor_samples
        for n in common
    )


def check_comparable(
    base: Run, head: Run, *, allow_env_change: bool, what: str = "base and head"
) -> list[tuple[str, str, str]]:
    """The environment differences; refuse them unless ``allow_env_change``."""
    diffs = differences(base, head)
    if diffs and not allow_env_change:
        shown = "; ".join(f"{k} {a} != {b}" for k, a, b in diffs[:4])
        more = f" (and {len(diffs) - 4} more)" if len(diffs) > 4 else ""
        raise UnusableInputError(
            f"{what} are not comparable: {shown}{more}. To compare only the code, "
            f"{COMPARABLE_COMMAND}; or pass --allow-env-change to compare anyway"
        )
    return diffs


def ormbench_versions(base: Run, head: Run) -> tuple[str, str]:
    """The ormbench version of each side (code under test, never refused)."""

    def one(run: Run) -> str:
        return str((run.ormbench.get("versions") or {}).get("ormbench", "?"))

    return one(base), one(head)


__all__ = [
    "COMPARABLE_COMMAND",
    "ENV_VERSIONS",
    "check_comparable",
    "check_distinct",
    "differences",
    "environment",
    "ormbench_versions",
    "same_samples",
]
