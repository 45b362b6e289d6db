"""The response matrix: the endpoint's body through each response path, against the floor's.

One benchmark per scenario x page size x response path (x end to end through the FastAPI
app, x JSON loader), id ``canonical-p10-orm_scalars-pydantic`` (``...-pydantic-app`` through
the app); each (scenario, page size) is one group, ``canonical-p10-response``. Every timed round
is paired with ``dbapi_fetchall`` plus orjson. ``--response`` selects the renderings.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ormbench.plugin import session_state
from ormbench.query.scenarios import LARGE_PAGE_SIZE, PAGE_SIZES, SCENARIOS
from ormbench.response.measure import ResponseCase
from ormbench.response.paths import APP, PATHS


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "response_case" not in metafunc.fixturenames:
        return
    settings = session_state(metafunc.config).settings
    kinds = set(settings.response)
    params = []
    for loader in settings.json_loader:
        for scenario in SCENARIOS:
            for size in (*PAGE_SIZES, LARGE_PAGE_SIZE):
                marks = [pytest.mark.large] if size == LARGE_PAGE_SIZE else []
                for path in PATHS:
                    if path.response not in kinds:
                        continue
                    variants = (False, True) if APP in kinds and path.app else (False,)
                    for app in variants:
                        case = ResponseCase(scenario, size, path.name, app, loader)
                        params.append(pytest.param(case, id=case.id, marks=marks))
    metafunc.parametrize("response_case", params)


def test_response(
    bench_response: Callable[[ResponseCase], None], response_case: ResponseCase
) -> None:
    """Render one page's response body through one response path."""
    bench_response(response_case)
