"""The response matrix: the endpoint's body through each response path, against the floor's.

One benchmark per scenario x page size x response path (x end to end through the FastAPI
app, x JSON loader), id ``canonical-p10-orm_scalars-pydantic`` (``...-pydantic-app`` through
the app); each (scenario, page size) is one group, ``canonical-p10-response``. Every timed round
is paired with ``dbapi_fetchall`` plus orjson. ``--response`` selects the renderings.

By default the matrix covers the gated requests (canonical, rare_tag, no_tag at p10 and p100);
every other scenario and page size is marked ``responses`` and runs with ``-m responses``: the
whole matrix is 800 benchmarks, more than the page matrix itself.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from fixtures.matrix import GATE_PAGE_SIZES, GATE_SCENARIOS
from ormbench.plugin import session_state
from ormbench.query.scenarios import LARGE_PAGE_SIZE, PAGE_SIZES, SCENARIOS
from ormbench.response.measure import ResponseCase
from ormbench.response.paths import APP, PATHS

# The axes, parametrized as plain values so that pytest-benchmark saves them as such
# (--benchmark-group-by=param:path); the ``response_case`` fixture puts them together.
AXES = ("scenario", "page_size", "path", "app", "loader")


@pytest.fixture
def response_case(scenario: str, page_size: int, path: str, app: bool, loader: str) -> ResponseCase:
    """The response matrix cell this benchmark measures."""
    return ResponseCase(scenario, page_size, path, app, loader)


def _marks(scenario: str, size: int) -> list[pytest.MarkDecorator]:
    if size == LARGE_PAGE_SIZE:
        return [pytest.mark.large]
    if scenario in GATE_SCENARIOS and size in GATE_PAGE_SIZES:
        return []
    return [pytest.mark.responses]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "response_case" not in metafunc.fixturenames:
        return
    settings = session_state(metafunc.config).settings
    kinds = set(settings.response)
    params = []
    for loader in settings.json_loader:
        for scenario in SCENARIOS:
            for size in (*PAGE_SIZES, LARGE_PAGE_SIZE):
                for path in PATHS:
                    if path.response not in kinds:
                        continue
                    variants = (False, True) if APP in kinds and path.app else (False,)
                    for app in variants:
                        case = ResponseCase(scenario, size, path.name, app, loader)
                        params.append(
                            pytest.param(
                                scenario,
                                size,
                                path.name,
                                app,
                                loader,
                                id=case.id,
                                marks=_marks(scenario, size),
                            )
                        )
    metafunc.parametrize(AXES, params)


def test_response(
    bench_response: Callable[[ResponseCase], None], response_case: ResponseCase
) -> None:
    """Render one page's response body through one response path."""
    bench_response(response_case)
