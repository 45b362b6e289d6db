"""One response benchmark case, paired with the floor at response level.

The same mechanics as ``ormbench.measure.paired`` (warm-up, capture, counters, settled rounds
alternating sides), with bodies instead of pages: the target renders the endpoint's body
through one response path (directly, or end to end through the FastAPI app) and every timed
round is paired with ``FLOOR_PATH``, ``dbapi_fetchall`` plus orjson. Before any timing, the
target's body must decode to the floor's page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from ormbench.measure.observe import Subject, observe, once_s, paired_rounds, warm
from ormbench.measure.paired import (
    DEFAULT_LOADER,
    MAX_ROUNDS,
    MIN_ROUNDS,
    ROUND_BUDGET_S,
    Prepared,
    extra_info,
)
from ormbench.measure.settle import SETTLE_S
from ormbench.query.spec import ContentRequest, Page
from ormbench.response.decode import decode_body
from ormbench.response.paths import FLOOR_PATH, get_path
from ormbench.strategies import StrategyContext

# Suffix of the end-to-end variant's id (the path served through the FastAPI app).
APP_SUFFIX = "-app"
# Results of response benchmarks carry this level (page-level results carry none).
LEVEL = "response"


@dataclass(frozen=True)
class ResponseCase:
    """One cell of the response matrix: scenario x page size x response path (x app, loader).

    Ids extend the page matrix's: ``canonical-p10-orm_scalars-pydantic``, and
    ``canonical-p10-orm_scalars-pydantic-app`` through the app."""

    scenario: str
    page_size: int
    path: str
    app: bool = False
    loader: str = DEFAULT_LOADER

    @property
    def strategy(self) -> str:
        """The name this case's row carries in tables (the path, plus ``-app``)."""
        return self.path + (APP_SUFFIX if self.app else "")

    @property
    def group(self) -> str:
        suffix = "" if self.loader == DEFAULT_LOADER else f"-{self.loader}"
        return f"{self.scenario}-p{self.page_size}{suffix}-response"

    @property
    def id(self) -> str:
        suffix = "" if self.loader == DEFAULT_LOADER else f"-{self.loader}"
        return f"{self.scenario}-p{self.page_size}{suffix}-{self.strategy}"


@dataclass
class PreparedResponse(Prepared):
    """A prepared response case: ``page`` is the body decoded, ``body_bytes`` its size."""

    body_bytes: int = 0
    # Through the app the handler runs on FastAPI's thread pool: this thread's CPU clock would
    # miss it, so responses are timed in wall time only.
    CPU_CLOCK: ClassVar[bool] = False


def prepare_response(
    case: ResponseCase,
    ctx: StrategyContext,
    req: ContentRequest,
    body: Callable[[], bytes],
    *,
    budget_s: float = ROUND_BUDGET_S,
    min_rounds: int = MIN_ROUNDS,
    settle_s: float = SETTLE_S,
) -> PreparedResponse:
    """Warm up, check the body against the floor's page, capture, count, size the rounds.

    ``body`` renders the target's body (``path.body`` bound to the request, or an app
    client's request). Calls and peak memory count the calling thread only: through the
    app, the handler runs in FastAPI's thread pool.
    """
    floor_path = get_path(FLOOR_PATH)

    def floor() -> bytes:
        return floor_path.body(ctx, req)

    got, expected = warm(body, floor)
    page = _checked_page(case, req, got, expected)
    seen = observe(Subject(case.strategy, case.strategy, body, ctx.engine))
    rounds = paired_rounds(budget_s, once_s(body, floor), settle_s, min_rounds, MAX_ROUNDS)
    return PreparedResponse.observed(
        case,  # type: ignore[arg-type]  # a ResponseCase has every field Prepared reads
        body,
        floor,
        page,
        seen,
        rounds,
        settle_s,
        body_bytes=len(got),
    )


def _checked_page(case: ResponseCase, req: ContentRequest, got: bytes, expected: bytes) -> Page:
    """The page ``got`` decodes to, if it is the page the floor's body holds."""
    page = decode_body(got, req)
    decode_body(expected, req).check(page, f"{case.id}: not the page {FLOOR_PATH} renders")
    return page


def check_body_once(
    case: ResponseCase, ctx: StrategyContext, req: ContentRequest, body: Callable[[], bytes]
) -> Page:
    """One body rendered, its page checked against the floor's, nothing timed: the smoke run
    of ``--benchmark-disable``."""
    return _checked_page(case, req, body(), get_path(FLOOR_PATH).body(ctx, req))


def response_extra_info(prepared: PreparedResponse, round_times: list[float]) -> dict[str, Any]:
    """``extra_info``'s figures, plus what identifies a response benchmark."""
    case: ResponseCase = prepared.case  # type: ignore[assignment]
    path = get_path(case.path)
    info = extra_info(prepared, round_times)
    info.update(
        level=LEVEL,
        path=case.path,
        path_strategy=path.strategy,
        response=path.response,
        app=case.app,
        floor=FLOOR_PATH,
        body_bytes=prepared.body_bytes,
        full_page=True,
    )
    return info


__all__ = [
    "APP_SUFFIX",
    "LEVEL",
    "PreparedResponse",
    "ResponseCase",
    "prepare_response",
    "response_extra_info",
]
