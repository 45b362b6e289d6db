"""Benchmark wiring: the matrix of cases, and opt-in markers that stay off unless selected."""

from __future__ import annotations

import pytest

from ormbench.measure.paired import Case
from ormbench.plugin import session_state
from ormbench.query.scenarios import LARGE_PAGE_SIZE, PAGE_SIZES, SCENARIOS
from ormbench.strategies import STRATEGIES

# Markers whose benchmarks are slow or need a bigger dataset; they run only when selected.
OPT_IN_MARKERS = ("large", "infra", "pathology")


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
                    params.append(pytest.param(case, id=case.id, marks=marks))
    metafunc.parametrize("case", params)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    selected = config.getoption("markexpr") or ""
    keep, drop = [], []
    for item in items:
        opt_in = [m for m in OPT_IN_MARKERS if item.get_closest_marker(m)]
        (drop if any(m not in selected for m in opt_in) else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
