"""Benchmark wiring: the matrix of cases, and opt-in markers that stay off unless selected."""

from __future__ import annotations

import pytest

from ormbench.measure.paired import DEFAULT_LOADER, Case
from ormbench.plugin import session_state
from ormbench.query.scenarios import LARGE_PAGE_SIZE, PAGE_SIZES, SCENARIOS
from ormbench.strategies import FAST_STRATEGIES, STRATEGIES

# Markers whose benchmarks are slow or need a bigger dataset; they run only when selected.
OPT_IN_MARKERS = ("large", "infra", "pathology", "responses")
# The perf gate's subset (`-m gate`, docs/gate.md): the production request, the request whose
# cost is on the server (rare tag) and the one without the EXISTS (no tag), at the smallest and
# largest default page sizes, every strategy but the fast paths, default JSON loader: 54
# benchmarks with the built-in strategies, about 1.5 minutes per side on `ci` (2 cores), so base
# and head fit one CI job. The fast paths (ormbench/strategies/fast.py) would add 36 more and
# two thirds to that time; the full matrix and the response benchmarks measure them.
GATE_SCENARIOS = ("canonical", "rare_tag", "no_tag")
GATE_PAGE_SIZES = (10, 100)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "gate: the perf gate's subset (docs/gate.md)")


def _in_gate(case: Case) -> bool:
    return (
        case.scenario in GATE_SCENARIOS
        and case.page_size in GATE_PAGE_SIZES
        and case.loader == DEFAULT_LOADER
        and case.strategy not in FAST_STRATEGIES
    )


# The matrix's axes, parametrized as plain values so that pytest-benchmark saves them as such
# (--benchmark-group-by=param:strategy); the ``case`` fixture puts them together.
AXES = ("scenario", "page_size", "strategy", "loader")


@pytest.fixture
def case(scenario: str, page_size: int, strategy: str, loader: str) -> Case:
    """The matrix cell this benchmark measures."""
    return Case(scenario, page_size, strategy, loader)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" not in metafunc.fixturenames:
        return
    loaders = session_state(metafunc.config).settings.json_loader
    params = []
    for loader in loaders:
        for scenario in SCENARIOS:
            for size in (*PAGE_SIZES, LARGE_PAGE_SIZE):
                marks = [pytest.mark.large] if size == LARGE_PAGE_SIZE else []
                for strategy in STRATEGIES:
                    case = Case(scenario, size, strategy, loader)
                    gate = [pytest.mark.gate] if _in_gate(case) else []
                    params.append(
                        pytest.param(
                            scenario, size, strategy, loader, id=case.id, marks=marks + gate
                        )
                    )
    metafunc.parametrize(AXES, params)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    selected = config.getoption("markexpr") or ""
    keep, drop = [], []
    for item in items:
        opt_in = [m for m in OPT_IN_MARKERS if item.get_closest_marker(m)]
        (drop if any(m not in selected for m in opt_in) else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
