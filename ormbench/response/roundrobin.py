"""Response paths in ``ormbench compare``: their functions, ratios and the recommendation.

``compare --responses`` times the response paths selected by ``--response`` in the same
shuffled rounds as the strategies; their ratios are to ``FLOOR_PATH`` (``dbapi_fetchall``
plus orjson) in the same rounds, as the paired benchmarks pair them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Any

from ormbench.measure.roundrobin import RoundRobinResult
from ormbench.measure.stats import median_ci
from ormbench.query.spec import ContentRequest
from ormbench.response.app import AppClient, make_app
from ormbench.response.measure import APP_SUFFIX, LEVEL
from ormbench.response.paths import APP, FLOOR_PATH, PATHS, get_path
from ormbench.strategies import StrategyContext


@contextlib.contextmanager
def response_functions(
    ctx: StrategyContext, req: ContentRequest, kinds: Iterable[str]
) -> Iterator[dict[str, Callable[[], bytes]]]:
    """Body functions of the paths whose rendering is in ``kinds`` (plus their app variants
    when ``kinds`` holds "app"), the floor path always; app clients closed on exit."""
    kinds = set(kinds)
    fns: dict[str, Callable[[], bytes]] = {}
    clients: list[AppClient] = []
    try:
        for path in PATHS:
            if path.response in kinds or path.name == FLOOR_PATH:
                fns[path.name] = partial(path.body, ctx, req)
            if APP in kinds and path.app and path.response in kinds:
                client = AppClient(make_app(ctx, path))
                clients.append(client)
                fns[path.name + APP_SUFFIX] = partial(client.body, req)
        yield fns
    finally:
        for client in clients:
            client.close()


def response_results(
    result: RoundRobinResult, names: Iterable[str], scenario: str, page_size: int, loader: str
) -> list[dict[str, Any]]:
    """One result per response path, its per-round ratios to the floor path's."""
    floor = result.times[FLOOR_PATH]
    out = []
    for name in names:
        ratios = [t / f for t, f in zip(result.times[name], floor, strict=True) if f > 0]
        app = name.endswith(APP_SUFFIX)
        path = get_path(name.removesuffix(APP_SUFFIX) if app else name)
        out.append(
            {
                "scenario": scenario,
                "page_size": page_size,
                "json_loader": loader,
                "strategy": name,
                "level": LEVEL,
                "app": app,
                "median_ms": result.median(name) * 1e3,
                "ratio": median_ci(ratios).as_dict(),
                "label": path.label + (" (through the FastAPI app)" if app else ""),
            }
        )
    return out


__all__ = ["response_functions", "response_results"]
