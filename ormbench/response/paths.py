"""Response paths: one way to load the page paired with one way to render it.

A path is named ``<strategy>-<response>`` (``orm_scalars-pydantic``) and is a loader
``fn(ctx, req) -> content`` (what a handler returns) plus a renderer (``render.RENDERERS``).
Loaders hand the renderer what that strategy naturally has: ORM entities and Rows for the ORM
paths (Pydantic reads them by attribute, as ``from_attributes`` does in production), dicts for
orjson, the server's bytes for the server-built body. Loaders of the ``page`` kind reuse a
strategy's ``Page`` and zip its rows into dicts.

``FLOOR_PATH`` (``dbapi_fetchall`` plus orjson) is what every response is paired with;
``PRODUCTION_PATH`` is the endpoint as production writes it: ORM entities, Pydantic, JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ormbench.errors import ConfigError
from ormbench.query.spec import ContentRequest
from ormbench.response.render import RENDERERS, Renderer
from ormbench.strategies import StrategyContext, get_strategy
from ormbench.strategies.builtin import _entities, _orm_total
from ormbench.strategies.fast import (
    STATEMENTS,
    _entity_select,
    _orm_columns_select,
    _total,
    bound_params,
    dict_rows,
    json_fragment_select,
    server_body,
)

# Response kinds of the benchmark axis (--response), in order; "app" adds the end-to-end
# variant (through the FastAPI app) of the paths that have one.
RESPONSE_KINDS: tuple[str, ...] = ("pydantic", "pydantic_jsonresponse", "orjson", "server")
APP = "app"

Loader = Callable[[StrategyContext, ContentRequest], Any]


@dataclass(frozen=True)
class ResponsePath:
    """A loader and a renderer; its docstring-like label says what it does."""

    strategy: str
    response: str
    load: Loader
    label: str
    # Also benchmarked end to end through the FastAPI app (response axis value "app").
    app: bool = False

    @property
    def name(self) -> str:
        return f"{self.strategy}-{self.response}"

    @property
    def render(self) -> Renderer:
        return RENDERERS[self.response]

    def body(self, ctx: StrategyContext, req: ContentRequest) -> bytes:
        """The response body of ``req`` through this path."""
        return self.render(self.load(ctx, req))


def _envelope(req: ContentRequest, items: Any, total: int | None) -> dict[str, Any]:
    return {"items": items, "page": req.page, "page_size": req.page_size, "total": total}


def _entities_content(ctx: StrategyContext, req: ContentRequest, reused: bool) -> dict[str, Any]:
    """ORM entities (the username set on each when joined), as a handler returns them."""
    with ctx.session_factory() as session:
        if reused:
            params = bound_params(req)
            result = session.execute(STATEMENTS.get("entity", req, _entity_select), params)
            rows = result.all() if req.with_username else result.scalars().all()
            total = _total(session.execute, req, params)
        else:
            rows = _entities(session, req).all()
            total = _orm_total(session, req)
    if req.with_username:
        items = []
        for entity, username in rows:
            entity.username = username  # a plain attribute the response model reads
            items.append(entity)
    else:
        items = list(rows)
    return _envelope(req, items, total)


def orm_entities(ctx: StrategyContext, req: ContentRequest) -> dict[str, Any]:
    return _entities_content(ctx, req, reused=False)


def orm_entities_reused(ctx: StrategyContext, req: ContentRequest) -> dict[str, Any]:
    return _entities_content(ctx, req, reused=True)


def _orm_rows(ctx: StrategyContext, req: ContentRequest, reused: bool) -> tuple[list[Any], Any]:
    with ctx.session_factory() as session:
        if reused:
            params = bound_params(req)
            stmt = STATEMENTS.get("orm_columns", req, _orm_columns_select)
            rows = session.execute(stmt, params).all()
            return rows, _total(session.execute, req, params)
        rows = session.execute(_orm_columns_select(req)).all()
        return rows, _orm_total(session, req)


def orm_rows(ctx: StrategyContext, req: ContentRequest) -> dict[str, Any]:
    rows, total = _orm_rows(ctx, req, reused=False)
    return _envelope(req, rows, total)


def orm_rows_reused(ctx: StrategyContext, req: ContentRequest) -> dict[str, Any]:
    rows, total = _orm_rows(ctx, req, reused=True)
    return _envelope(req, rows, total)


def orm_rows_reused_dicts(ctx: StrategyContext, req: ContentRequest) -> dict[str, Any]:
    rows, total = _orm_rows(ctx, req, reused=True)
    return _envelope(req, [row._asdict() for row in rows], total)


def orm_rows_json_fragments(ctx: StrategyContext, req: ContentRequest) -> dict[str, Any]:
    """ORM Rows whose JSON columns stay the server's text, for orjson to embed undecoded."""
    params = bound_params(req)
    stmt = STATEMENTS.get("json_fragment", req, json_fragment_select)
    with ctx.session_factory() as session:
        rows = session.execute(stmt, params).all()
        total = _total(session.execute, req, params)
    return _envelope(req, [row._asdict() for row in rows], total)


def page_dicts(strategy: str) -> Loader:
    """A loader of ``strategy``'s Page with each row zipped into a dict."""

    def load(ctx: StrategyContext, req: ContentRequest) -> dict[str, Any]:
        # Looked up per call: a planted strategy (ormbench.gate.plants) replaces the registry's.
        page = get_strategy(strategy)(ctx, req)
        columns = page.columns
        return _envelope(
            req, [dict(zip(columns, row, strict=True)) for row in page.rows], page.total
        )

    return load


def psycopg_dicts(ctx: StrategyContext, req: ContentRequest) -> dict[str, Any]:
    rows, total = dict_rows(ctx, req)
    return _envelope(req, rows, total)


PATHS: tuple[ResponsePath, ...] = (
    ResponsePath(
        "orm_scalars",
        "pydantic",
        orm_entities,
        "ORM entities, Pydantic response_model (FastAPI's default): production",
        app=True,
    ),
    ResponsePath(
        "orm_scalars",
        "pydantic_jsonresponse",
        orm_entities,
        "ORM entities, Pydantic response_model rendered by JSONResponse",
    ),
    ResponsePath(
        "orm_columns", "pydantic", orm_rows, "ORM Rows of the list columns, Pydantic response_model"
    ),
    ResponsePath(
        "orm_scalars_reused",
        "pydantic",
        orm_entities_reused,
        "ORM entities of a reused statement, Pydantic response_model",
    ),
    ResponsePath(
        "orm_columns_reused",
        "pydantic",
        orm_rows_reused,
        "ORM Rows of a reused statement, Pydantic response_model",
        app=True,
    ),
    ResponsePath(
        "orm_columns_reused",
        "orjson",
        orm_rows_reused_dicts,
        "ORM Rows of a reused statement as dicts, orjson",
        app=True,
    ),
    ResponsePath(
        "orm_columns_orjson",
        "orjson",
        page_dicts("orm_columns_orjson"),
        "ORM Rows of a reused statement, JSON decoded by orjson, as dicts, orjson",
    ),
    ResponsePath(
        "orm_columns_autocommit",
        "orjson",
        page_dicts("orm_columns_autocommit"),
        "ORM Rows of a reused statement outside a transaction, jsonb by orjson, as dicts, orjson",
    ),
    ResponsePath(
        "orm_json_text",
        "orjson",
        orm_rows_json_fragments,
        "ORM Rows of a reused statement, JSON columns kept as text, orjson (Fragment)",
        app=True,
    ),
    ResponsePath(
        "core_reused",
        "orjson",
        page_dicts("core_reused"),
        "Core rows of a reused statement, orjson",
    ),
    ResponsePath(
        "dbapi_fetchall",
        "pydantic",
        page_dicts("dbapi_fetchall"),
        "DBAPI tuples as dicts, Pydantic response_model",
    ),
    ResponsePath(
        "dbapi_fetchall",
        "orjson",
        page_dicts("dbapi_fetchall"),
        "DBAPI tuples as dicts, orjson: the floor",
        app=True,
    ),
    ResponsePath(
        "dbapi_dict_row", "orjson", psycopg_dicts, "DBAPI psycopg dict_row rows, orjson", app=True
    ),
    ResponsePath(
        "dbapi_server_json",
        "server",
        server_body,
        "DBAPI body built by PostgreSQL (json_agg), passed through as bytes",
        app=True,
    ),
)
PATHS_BY_NAME: dict[str, ResponsePath] = {p.name: p for p in PATHS}
FLOOR_PATH = "dbapi_fetchall-orjson"
PRODUCTION_PATH = "orm_scalars-pydantic"


def get_path(name: str) -> ResponsePath:
    """The response path called ``name``; a ConfigError lists the known ones otherwise."""
    try:
        return PATHS_BY_NAME[name]
    except KeyError:
        raise ConfigError(
            f"unknown response path {name!r}; known: {', '.join(PATHS_BY_NAME)}"
        ) from None


__all__ = [
    "APP",
    "FLOOR_PATH",
    "PATHS",
    "PATHS_BY_NAME",
    "PRODUCTION_PATH",
    "RESPONSE_KINDS",
    "ResponsePath",
    "get_path",
]
