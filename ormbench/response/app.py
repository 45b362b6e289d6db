"""The unified content endpoint as a real FastAPI app, served in-process through httpx.

``make_app(ctx, path)`` builds ``GET /api/v1/content/unified`` on one response path: query
parameters as the production endpoint takes them, validated by FastAPI (types, ranges, enum
values: a bad one is a 422), then by ``ContentRequest`` (whose errors also become a 422). A
Pydantic path returns what its loader returns and lets ``response_model`` validate and
render it, as production does; the other paths return their bytes in a plain ``Response``.

The handler is a plain ``def``, as a service on a synchronous Session writes it: FastAPI runs
it in its thread pool. ``AppClient`` sends requests through httpx's ``ASGITransport`` on an
event loop of its own, so a benchmark can call it synchronously.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any, Literal

import httpx
from fastapi import FastAPI, Query, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ormbench.errors import QuerySpecError
from ormbench.query.spec import (
    ALL_SOURCES,
    MAX_PAGE,
    MAX_PAGE_SIZE,
    MAX_TAGS,
    ContentRequest,
    SourceType,
)
from ormbench.response.paths import ResponsePath
from ormbench.response.schema import ContentListResponse
from ormbench.strategies import StrategyContext

ENDPOINT = "/api/v1/content/unified"
# Any host: the transport never leaves the process.
BASE_URL = "http://ormbench"


def make_app(ctx: StrategyContext, path: ResponsePath) -> FastAPI:
    """The endpoint served by ``path`` on ``ctx``'s engine."""
    app = FastAPI(title=f"ormbench {path.name}")
    # FastAPI renders Pydantic paths itself: by default with Pydantic's dump_json, with
    # response_class=JSONResponse through json.dumps (render.py mirrors both).
    routes: dict[str, dict[str, Any]] = {
        "pydantic": {"response_model": ContentListResponse},
        "pydantic_jsonresponse": {
            "response_model": ContentListResponse,
            "response_class": JSONResponse,
        },
    }
    pydantic = path.response in routes
    route = routes.get(path.response, {"response_class": Response})

    @app.get(ENDPOINT, **route)
    def unified(
        user_id: uuid.UUID,
        content_source_types: Annotated[list[SourceType], Query()] = list(ALL_SOURCES),  # noqa: B006
        tag: Annotated[list[uuid.UUID], Query(max_length=MAX_TAGS)] = [],  # noqa: B006
        tag_match: Literal["any", "all"] = "any",
        is_private: bool | None = None,
        sort_field: Literal["created_at", "updated_at", "quality_score", "title"] = "created_at",
        sort_order: Literal["asc", "desc"] = "desc",
        page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
        page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 10,
        after: str | None = None,
        with_username: bool = True,
        with_total: bool = False,
    ) -> Any:
        query: dict[str, Any] = {
            "content_source_types": [s.value for s in content_source_types],
            "user_id": str(user_id),
            "tag": [str(t) for t in tag],
            "tag_match": tag_match,
            "sort_field": sort_field,
            "sort_order": sort_order,
            "page": str(page),
            "page_size": str(page_size),
            "with_username": str(with_username).lower(),
            "with_total": str(with_total).lower(),
        }
        if is_private is not None:
            query["is_private"] = str(is_private).lower()
        if after is not None:
            query["after"] = after
        try:
            req = ContentRequest.from_query(query)
        except QuerySpecError as exc:
            raise RequestValidationError(
                [{"type": "value_error", "loc": ("query",), "msg": str(exc), "input": query}]
            ) from None
        if pydantic:
            return path.load(ctx, req)
        return Response(path.body(ctx, req), media_type="application/json")

    return app


class AppClient:
    """An httpx client on the app through ``ASGITransport``, driven by its own event loop."""

    def __init__(self, app: FastAPI) -> None:
        self._loop = asyncio.new_event_loop()
        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL)

    def get(self, params: Any) -> httpx.Response:
        """``GET`` the endpoint with ``params`` (a mapping of names to a value or a list)."""
        return self._loop.run_until_complete(self._client.get(ENDPOINT, params=params))

    def body(self, req: ContentRequest) -> bytes:
        """The endpoint's body for ``req``; an error if the status is not 200."""
        response = self.get(req.to_query())
        if response.status_code != 200:
            raise AssertionError(f"{response.status_code}: {response.text[:300]}")
        return response.content

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.close()

    def __enter__(self) -> AppClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["BASE_URL", "ENDPOINT", "AppClient", "make_app"]
