"""The pathology catalogue: each trap timed against its fix, in interleaved pairs.

Opt-in, on the canonical dataset (300,000 items; seeded once in ``<pg-schema>_canonical``)::

    pytest benchmarks/test_pathologies.py -m pathology --benchmark-only

``--dataset``/``--dataset-set`` run them on the configured dataset instead. One group per
pathology, two benchmarks each: ``bad`` timed with ``fixed`` paired before every round, then
``fixed`` timed with ``bad`` paired. Each benchmark's ``extra_info`` holds the per-round ratios
bad / fixed, both medians, and the statements sent; the table at the end of the module is the
README's (figures only; ``ormbench pathologies`` adds the diagnosis lines).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from ormbench.config import Settings
from ormbench.pathologies import PATHOLOGIES, PROFILE, VARIANTS
from ormbench.pathologies.connection import current_schema, dataset_hash, open_variant
from ormbench.pathologies.paired import Pair, prepare_pair
from ormbench.pathologies.report import figures, markdown_table
from ormbench.pg import PgServer
from ormbench.runinfo import versions
from ormbench.workspace import Workspace

pytestmark = pytest.mark.pathology


@pytest.fixture(scope="module")
def pathology_schema(
    request: pytest.FixtureRequest,
    ormbench_settings: Settings,
    seeded: Callable[[str], Workspace],
) -> str:
    """Schema of the dataset the pathologies run on: canonical, unless one was configured."""
    explicit = ormbench_settings.source("dataset") != "default" or ormbench_settings.dataset_set
    data: Workspace = request.getfixturevalue("dataset") if explicit else seeded(PROFILE)
    return current_schema(data.engine)


@pytest.fixture(scope="module")
def run_identity(pg_server: PgServer, pathology_schema: str) -> dict[str, Any]:
    """What makes two runs comparable (the gate checks it): dataset fingerprint, versions."""
    with psycopg.connect(pg_server.conninfo, autocommit=True) as conn:
        fingerprint = dataset_hash(conn, pathology_schema)
    return {"dataset": fingerprint, "versions": {**versions(), "server": pg_server.server_version}}


@pytest.fixture(scope="module")
def pairs(
    pg_server: PgServer, pathology_schema: str, ormbench_settings: Settings
) -> Iterator[Callable[[str], Pair]]:
    """Factory: the open, checked pair of one pathology; the previous one is closed first, so
    at most two variants' connections are open at a time."""
    current: dict[str, Pair] = {}
    stack = contextlib.ExitStack()

    def get(name: str) -> Pair:
        if name not in current:
            stack.close()
            current.clear()
            pathology = PATHOLOGIES[name]
            runs = {
                which: stack.enter_context(
                    open_variant(
                        pg_server,
                        pathology_schema,
                        pathology,
                        which,
                        loader=ormbench_settings.json_loader[0],
                        timeout=ormbench_settings.pg_connect_timeout,
                    )
                )
                for which in VARIANTS
            }
            settle_s = ormbench_settings.settle_ms / 1e3
            current[name] = prepare_pair(pathology, runs, settle_s=settle_s)
        return current[name]

    try:
        yield get
    finally:
        stack.close()


class _TableAtTheEnd:
    """A plugin printing the README table after pytest-benchmark's own tables (a fixture's
    output would be swallowed by pytest's capture)."""

    def __init__(self) -> None:
        self.results: list[dict[str, Any]] = []

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.results:
            terminalreporter.write_sep("-", "ormbench pathologies: bad / fixed, interleaved pairs")
            terminalreporter.write_line(markdown_table(figures(self.results), {}))


@pytest.fixture(scope="module")
def results(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    """Every benchmark's figures, printed as the README table at the end of the session."""
    table = _TableAtTheEnd()
    request.config.pluginmanager.register(table)
    return table.results


CASES = [
    pytest.param(name, which, id=f"{name}-{which}") for name in PATHOLOGIES for which in VARIANTS
]


@pytest.mark.parametrize(("name", "which"), CASES)
def test_pathology(
    benchmark: Any,
    pairs: Callable[[str], Pair],
    results: list[dict[str, Any]],
    run_identity: dict[str, Any],
    name: str,
    which: str,
) -> None:
    """One side of one pathology, each round paired with the other side."""
    pair = pairs(name)
    benchmark.group = f"pathology-{pair.pathology.number}-{name}"
    armed = pair.generic_counts()
    benchmark.pedantic(
        pair.target(which), setup=pair.partner(which), rounds=pair.rounds, iterations=1
    )
    # Both variants run once a round (one timed, one paired): a primed trap must have run its
    # generic plan every round, or the figures are not the trap's.
    pair.check_trap(armed, pair.rounds)
    info = {**pair.extra_info(which, list(benchmark.stats.stats.data)), **run_identity}
    benchmark.extra_info.update(info)
    results.append(info)
