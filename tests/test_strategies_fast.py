"""The fast paths return the oracle's page and send the statement the builder builds.

Same checks as ``test_query_correctness`` (pages 1, 2, last and the scenario's own, by OFFSET
and keyset, random requests) for ``ormbench.strategies.fast``, plus what makes reuse safe: a
statement cached per shape, run with ``bound_params``, is byte for byte the SQL and values
``page_select`` builds for the request itself.
"""

from __future__ import annotations

import functools
import re
from dataclasses import replace
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.pq import Format
from sqlalchemy import text
from sqlalchemy.orm import Session

from ormbench.data.models import JSON_COLUMNS
from ormbench.measure.capture import capture
from ormbench.query import build
from ormbench.query.build import page_select
from ormbench.query.scenarios import PAGE_SIZES, SCENARIOS, build_request
from ormbench.strategies import FAST_STRATEGIES, STRATEGIES
from ormbench.strategies.fast import (
    STATEMENTS,
    OrjsonJsonb,
    _orjson_columns_select,
    bound_params,
    outside_transaction,
    statement_shape,
)
from tests import test_query_correctness as correctness
from tests.test_query_correctness import World, assert_page, pages_to_check, random_requests

# The seeded world and its oracle, shared with the correctness tests (one seed per profile).
world = correctness.world

TINY = pytest.mark.parametrize("world", ["tiny"], indirect=True)
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def test_fast_strategies_are_registered_after_the_builtin_ones() -> None:
    """Every fast path is registered, after the nine built-in strategies, in module order."""
    n = len(FAST_STRATEGIES)
    assert FAST_STRATEGIES == (
        "orm_scalars_reused",
        "orm_columns_reused",
        "orm_columns_orjson",
        "orm_columns_autocommit",
        "core_reused",
        "dbapi_dict_row",
        "dbapi_server_json",
    )
    assert list(STRATEGIES)[9 : 9 + n] == list(FAST_STRATEGIES)


@TINY
@pytest.mark.parametrize("strategy", FAST_STRATEGIES)
@pytest.mark.parametrize("page_size", PAGE_SIZES, ids=lambda n: f"p{n}")
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_fast_page_matches_oracle(world: World, scenario: str, page_size: int, strategy: str):
    """Pages 1, 2, last and the scenario's own page equal the oracle's, by OFFSET and keyset."""
    with world.engine.connect() as conn:
        req = build_request(
            scenario, world.roles, page_size, functools.partial(build.fetch_cursor, conn)
        )
    own_page = SCENARIOS[scenario].make(world.roles, page_size).page
    for page_req in pages_to_check(world, req, own_page):
        assert_page(world, strategy, page_req)


@TINY
@pytest.mark.parametrize("strategy", FAST_STRATEGIES)
def test_fast_total_matches_oracle(world: World, strategy: str) -> None:
    """with_total: the count of a reused total statement equals the oracle's."""
    for name in ("canonical", "two_tags_all", "no_tag"):
        req = replace(build_request(name, world.roles, 25).with_page(2), with_total=True)
        page = assert_page(world, strategy, req)
        assert page.total == world.oracle.total(req) > 0


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
@TINY
def test_random_requests_through_reused_statements(world: World, data: st.DataObject) -> None:
    """Random requests, in any order, through statements cached by shape: each page is the
    oracle's, so no cached statement ever serves a request of another shape."""
    req = data.draw(random_requests(world), label="request")
    strategy = data.draw(st.sampled_from(FAST_STRATEGIES), label="strategy")
    assert_page(world, strategy, req)


@TINY
def test_bound_params_cover_the_built_statement(world: World) -> None:
    """Every parameter of the built page and total statements has its value in bound_params,
    and requests of one shape differ only in values."""
    for name in SCENARIOS:
        for size in PAGE_SIZES:
            req = build_request(name, world.roles, size, world.oracle.cursor)
            params = bound_params(req)
            for sql in (build.page_sql(req), build.total_sql(req)):
                assert {k: params[k] for k in sql.params} == dict(sql.params), (name, size)
            other = req.with_page(req.page + 1) if not req.keyset else req
            same_shape = statement_shape(other) == statement_shape(req)
            assert same_shape == (req.page > 1 or req.keyset), name
            if same_shape:
                assert build.page_sql(other).sql == build.page_sql(req).sql


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """Every (query, params) handed to a psycopg cursor."""
    calls: list[tuple[str, Any]] = []
    original = psycopg.Cursor.execute

    def execute(self: Any, query: Any, params: Any = None, *a: Any, **k: Any) -> Any:
        calls.append((query if isinstance(query, str) else str(query), params))
        return original(self, query, params, *a, **k)

    monkeypatch.setattr(psycopg.Cursor, "execute", execute)
    return calls


@TINY
@pytest.mark.parametrize("req_name", ["canonical", "two_tags_all", "deep_offset", "deep_keyset"])
def test_reused_statements_send_the_built_sql(
    world: World, sent: list[tuple[str, Any]], req_name: str
) -> None:
    """After another request of the same shape warmed the cache, the reused statements send
    exactly page_select's SQL with the request's own values: one statement per page."""
    req = build_request(req_name, world.roles, 10, world.oracle.cursor)
    warm = replace(req, page_size=25)
    assert statement_shape(warm) == statement_shape(req)
    expected = build.page_sql(req)
    same_sql = (
        "orm_scalars_reused",
        "orm_columns_reused",
        "orm_columns_autocommit",
        "core_reused",
        "dbapi_dict_row",
    )
    for name in same_sql:
        STATEMENTS.clear()
        STRATEGIES[name](world.ctx, warm)
        sent.clear()
        STRATEGIES[name](world.ctx, req)
        assert len(sent) == 1, (name, [q for q, _ in sent])
        query, params = sent[0]
        assert query == expected.sql, name
        used = {k: dict(params)[k] for k in _PLACEHOLDER.findall(query)}
        assert used == dict(expected.params), name


@TINY
def test_autocommit_path_is_one_round_trip_and_gives_the_connection_back(world: World) -> None:
    """orm_columns_autocommit sends its one statement outside a transaction (no BEGIN, no
    ROLLBACK: one round trip), and the pooled connection gets its settings back."""
    req = build_request("canonical", world.roles, 10)
    with world.engine.connect() as conn:
        adapters = conn.connection.dbapi_connection.adapters
        jsonb = adapters.types["jsonb"].oid
        engine_loader = adapters.get_loader(jsonb, Format.TEXT)
    assert engine_loader is not None and engine_loader is not OrjsonJsonb
    STRATEGIES["orm_columns_autocommit"](world.ctx, req)  # warm: the statement is cached
    with capture(world.engine) as captured:
        STRATEGIES["orm_columns_autocommit"](world.ctx, req)
    assert [s.autocommit for s in captured.statements] == [True]
    assert captured.transaction_count == 0
    assert captured.round_trips == 1
    with capture(world.engine) as floor:
        STRATEGIES["dbapi_fetchall"](world.ctx, req)
    assert floor.round_trips == 3  # BEGIN, the page, ROLLBACK
    with world.engine.connect() as conn:
        dbapi = conn.connection.dbapi_connection
        assert dbapi.autocommit is False
        assert dbapi.prepare_threshold == 5  # psycopg's default
        assert dbapi.adapters.get_loader(jsonb, Format.TEXT) is engine_loader


def _prepared_statements(session: Session) -> int:
    return session.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar_one()


@TINY
def test_outside_transaction_never_prepares(world: World) -> None:
    """Run ten times outside a transaction, the page statement stays unprepared (so no generic
    plan can replace its custom ones); with autocommit alone, psycopg prepares it after five."""
    req = build_request("rare_tag", world.roles, 10)
    stmt = page_select(req)
    params = bound_params(req)
    with world.ctx.session_factory() as session, outside_transaction(session):
        for _ in range(10):
            session.execute(stmt, params).all()
        assert _prepared_statements(session) == 0
        dbapi = session.connection().connection.dbapi_connection
        assert dbapi.autocommit is True and dbapi.prepare_threshold is None
    with world.ctx.session_factory() as session:
        dbapi = session.connection().connection.dbapi_connection
        threshold = dbapi.prepare_threshold
        assert threshold == 5  # psycopg's default, given back
        dbapi.autocommit = True  # the planted omission: autocommit without the guard
        try:
            for _ in range(10):
                session.execute(stmt, params).all()
            assert _prepared_statements(session) >= 1
        finally:
            session.execute(text("DEALLOCATE ALL"))
            dbapi.autocommit = False


def _outputs(node: dict[str, Any]) -> list[str]:
    """The Output lists of ``node`` and every node below it (EXPLAIN VERBOSE)."""
    found = list(node.get("Output", []))
    for child in node.get("Plans", []):
        found += _outputs(child)
    return found


@TINY
@pytest.mark.parametrize("scenario", ["canonical", "rare_tag", "sort_quality"])
def test_orjson_casts_only_the_page_rows(world: World, scenario: str) -> None:
    """orm_columns_orjson casts JSONB to text in the query over the page: the casts are in
    the top node's output only, never below it (where a Sort of every candidate row runs)."""
    req = build_request(scenario, world.roles, 100)
    sql = build.compile_sql(_orjson_columns_select(req))
    with world.engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()
        cursor.execute(f"EXPLAIN (VERBOSE, FORMAT JSON) {sql.sql}", dict(sql.params))
        plan = cursor.fetchone()[0][0]["Plan"]
    assert plan["Node Type"] in ("Subquery Scan", "Sort")
    top = plan if plan["Node Type"] == "Subquery Scan" else plan["Plans"][0]
    assert sum("::text" in out for out in top["Output"]) == len(JSON_COLUMNS)
    below = [out for child in top.get("Plans", []) for out in _outputs(child)]
    assert below and not any("::text" in out for out in below)
