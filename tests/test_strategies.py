"""The strategy registry, user strategies, the statements strategies send and the JSON axis."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import psycopg
import pytest

import ormbench.strategies.registry as registry
from ormbench.data.generate import iter_dataset
from ormbench.data.models import JSON_COLUMNS
from ormbench.errors import ConfigError
from ormbench.jsonload import JSON_LOADERS, CountingLoader, JsonLoaderSwitch, get_loader
from ormbench.query import build
from ormbench.query.oracle import Oracle
from ormbench.query.scenarios import build_request
from ormbench.query.spec import ContentRequest, Page
from ormbench.strategies import (
    BUILTIN_STRATEGIES,
    STRATEGIES,
    StrategyContext,
    get_strategy,
    label,
    load_entry_points,
    load_strategy_modules,
    register,
)
from ormbench.strategies.builtin import DEFERRED_JSON_COLUMNS, LOAD_ONLY_COLUMNS

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# Strategies that select every list column (the others skip some on purpose).
FULL_ROW = tuple(s for s in BUILTIN_STRATEGIES if s not in ("orm_defer_json", "orm_load_only"))


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Registry and sys.modules restored after the test; examples/ importable."""
    before = dict(STRATEGIES)
    monkeypatch.syspath_prepend(str(EXAMPLES))
    yield
    STRATEGIES.clear()
    STRATEGIES.update(before)
    sys.modules.pop("my_strategy", None)


def test_builtin_order_and_labels() -> None:
    """Nine built-ins, most ORM first, each labelled by its docstring's first line."""
    assert BUILTIN_STRATEGIES == (
        "orm_query_all",
        "orm_scalars",
        "orm_yield_per",
        "orm_defer_json",
        "orm_load_only",
        "orm_columns",
        "core_select",
        "core_text",
        "dbapi_fetchall",
    )
    labels = [label(STRATEGIES[name]) for name in BUILTIN_STRATEGIES]
    assert all(labels) and len(set(labels)) == len(labels)
    assert label(STRATEGIES["dbapi_fetchall"]).startswith("DBAPI psycopg cursor.fetchall()")


def test_register_rules(clean_registry: None) -> None:
    """A strategy needs a plain name and a docstring; a taken name is refused, re-registering
    the same function is harmless, and register(name=...) renames."""

    def undocumented(ctx: StrategyContext, req: ContentRequest) -> Page:
        raise NotImplementedError

    with pytest.raises(ConfigError, match="needs a docstring"):
        register(undocumented)

    def orm_scalars(ctx: StrategyContext, req: ContentRequest) -> Page:
        """An impostor"""
        raise NotImplementedError

    with pytest.raises(ConfigError, match=r"already taken by ormbench\.strategies\.builtin"):
        register(orm_scalars)
    with pytest.raises(ConfigError, match="must be lower-case"):
        register(name="Bad-Name")(orm_scalars)
    renamed = register(name="my_scalars")(orm_scalars)
    assert STRATEGIES["my_scalars"] is renamed
    assert register(STRATEGIES["orm_scalars"]) is STRATEGIES["orm_scalars"]


def test_unknown_strategy_lists_the_known_ones() -> None:
    """get_strategy names every registered strategy and how to add one."""
    with pytest.raises(ConfigError) as info:
        get_strategy("orm_magic")
    assert "dbapi_fetchall" in str(info.value) and "--strategies-from" in str(info.value)


def test_load_user_module(clean_registry: None) -> None:
    """A user module registers its strategies on import (the --strategies-from path)."""
    assert load_strategy_modules(["my_strategy"]) == ["orm_bundle"]
    assert list(STRATEGIES)[-1] == "orm_bundle"
    assert load_strategy_modules(["my_strategy"]) == []  # importing again adds nothing


def test_load_user_function(clean_registry: None) -> None:
    """``module:function`` registers that function."""
    STRATEGIES.pop("orm_bundle", None)
    assert load_strategy_modules(["my_strategy:orm_bundle"]) == ["orm_bundle"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_module_xyz", "could not import strategy module 'no_such_module_xyz'"),
        ("my_strategy:nothing_here", "module 'my_strategy' has no function 'nothing_here'"),
    ],
)
def test_load_errors_name_the_fix(clean_registry: None, spec: str, message: str) -> None:
    """A module that cannot be imported or lacks the function is a one-line ConfigError."""
    with pytest.raises(ConfigError) as info:
        load_strategy_modules([spec])
    assert message in str(info.value) and "\n" not in str(info.value)


def test_entry_points(clean_registry: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Entry points in group ormbench.strategies register a function under the entry point's
    name, or import a module whose @register functions count; a broken one is named."""
    group = registry.ENTRY_POINT_GROUP
    points = [
        EntryPoint("bundled", "my_strategy:orm_bundle", group),
        EntryPoint("mine", "my_strategy", group),
    ]
    monkeypatch.setattr(registry, "entry_points", lambda group: points)
    added = load_entry_points()
    assert added == ["orm_bundle", "bundled"]
    assert STRATEGIES["bundled"] is STRATEGIES["orm_bundle"]

    broken = [EntryPoint("broken", "no_such_module_xyz:fn", group)]
    monkeypatch.setattr(registry, "entry_points", lambda group: broken)
    with pytest.raises(ConfigError, match="could not load strategy entry point 'broken'"):
        load_entry_points()


def test_json_loader_names() -> None:
    """The loader axis offers json and orjson; an unknown name says which exist."""
    assert set(JSON_LOADERS) == {"json", "orjson"}
    assert get_loader("orjson")(b'{"a": [1, 2.5]}') == {"a": [1, 2.5]}
    with pytest.raises(ConfigError, match="choose one of: json, orjson"):
        get_loader("simplejson")


def test_counting_loader_counts_and_times() -> None:
    """CountingLoader counts calls and bytes and accumulates time, and can be reset."""
    counter = CountingLoader(get_loader("json"))
    assert counter(b'{"k": 1}') == {"k": 1}
    assert counter('["x"]') == ["x"]
    assert (counter.calls, counter.bytes) == (2, 13)
    assert counter.ns > 0 and counter.seconds == counter.ns / 1e9
    counter.reset()
    assert (counter.calls, counter.bytes, counter.ns) == (0, 0, 0)


# -- on a database ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(seeded: Callable[[str], Any]) -> Any:
    """The tiny profile, seeded in its own schema."""
    return seeded("tiny")


@pytest.fixture(scope="module")
def tiny_oracle(tiny: Any) -> Oracle:
    rows = iter_dataset(tiny.profile)
    return Oracle(rows.content(), rows.links(), rows.users)


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """Every (query, params) handed to a psycopg cursor, SQLAlchemy's and raw alike."""
    calls: list[tuple[str, Any]] = []
    for cls in (psycopg.Cursor, psycopg.ServerCursor):
        original = cls.execute

        def execute(self: Any, query: Any, params: Any = None, *a: Any, _o=original, **k: Any):
            calls.append((query if isinstance(query, str) else str(query), params))
            return _o(self, query, params, *a, **k)

        monkeypatch.setattr(cls, "execute", execute)
    return calls


@pytest.mark.parametrize(
    "req_name", ["canonical", "two_tags_all", "sort_quality", "deep_offset", "deep_keyset"]
)
def test_full_row_strategies_send_the_same_statement(
    tiny: Any, tiny_oracle: Oracle, sent: list[tuple[str, Any]], req_name: str
) -> None:
    """ORM entities, ORM columns, Core, text() and the raw cursor hand psycopg byte-identical
    SQL with equal parameters: one statement per page, no lazy load, no extra query. (The
    legacy Query labels its columns "AS content_items_all_id"; nothing else differs.)"""
    req = build_request(req_name, tiny.roles, 10, tiny_oracle.cursor)
    expected = build.page_sql(req)
    ctx = StrategyContext(tiny.engine)
    for name in FULL_ROW:
        sent.clear()
        STRATEGIES[name](ctx, req)
        assert len(sent) == 1, (name, [q for q, _ in sent])
        query, params = sent[0]
        if name == "orm_query_all":
            query = re.sub(r" AS \w+", "", query)
        assert query == expected.sql, name
        assert dict(params) == dict(expected.params), name


def test_partial_strategies_share_the_statement_tail(
    tiny: Any, sent: list[tuple[str, Any]]
) -> None:
    """defer and load_only select fewer columns but send the same FROM ... LIMIT."""
    req = build_request("canonical", tiny.roles, 10)
    tail = build.page_sql(req).sql.split("\nFROM ", 1)[1]
    ctx = StrategyContext(tiny.engine)
    for name, absent in (("orm_defer_json", JSON_COLUMNS), ("orm_load_only", ("prompt",))):
        sent.clear()
        STRATEGIES[name](ctx, req)
        assert len(sent) == 1
        select_list, rest = sent[0][0].split("\nFROM ", 1)
        assert rest == tail
        assert not any(f"content_items_all.{c}" in select_list for c in absent)


def test_with_total_sends_one_count(tiny: Any, sent: list[tuple[str, Any]]) -> None:
    """with_total adds exactly the total statement, the same for every strategy."""
    req = replace(build_request("two_tags_any", tiny.roles, 10), with_total=True)
    ctx = StrategyContext(tiny.engine)
    for name in BUILTIN_STRATEGIES:
        sent.clear()
        STRATEGIES[name](ctx, req)
        assert [q for q, _ in sent][1:] == [build.total_sql(req).sql], name


def test_example_strategy_matches_oracle(
    clean_registry: None, tiny: Any, tiny_oracle: Oracle
) -> None:
    """The documented example strategy passes the same oracle check as the built-ins."""
    load_strategy_modules(["my_strategy"])
    ctx = StrategyContext(tiny.engine)
    for name in ("canonical", "rare_tag", "deep_keyset"):
        req = build_request(name, tiny.roles, 25, tiny_oracle.cursor)
        assert tiny_oracle.page(req).diff(STRATEGIES["orm_bundle"](ctx, req)) == []


def test_json_loader_axis(tiny: Any, tiny_oracle: Oracle) -> None:
    """The loader is shared by every strategy: under a counting wrapper each full-row
    strategy decodes exactly the page's non-NULL JSON values, defer and load_only none,
    and orjson gives the same pages as json."""
    req = build_request("canonical", tiny.roles, 50)
    expected = tiny_oracle.page(req)
    non_null = sum(v is not None for c in JSON_COLUMNS for v in expected.column(c))
    counter = CountingLoader(get_loader("json"))
    switch = JsonLoaderSwitch(tiny.engine, counter)
    try:
        ctx = StrategyContext(tiny.engine)
        for name in BUILTIN_STRATEGIES:
            counter.reset()
            page = STRATEGIES[name](ctx, req)
            want = 0 if name in ("orm_defer_json", "orm_load_only") else non_null
            assert counter.calls == want, name
            assert expected.diff(page) == []
        switch.use("orjson")
        for name in BUILTIN_STRATEGIES:
            assert expected.diff(STRATEGIES[name](ctx, req)) == [], name
    finally:
        switch.close()


def test_partial_pages_declare_their_columns(tiny: Any) -> None:
    """defer and load_only pages carry exactly the columns they load (+ username)."""
    req = build_request("canonical", tiny.roles, 10)
    ctx = StrategyContext(tiny.engine)
    assert STRATEGIES["orm_defer_json"](ctx, req).columns == (*DEFERRED_JSON_COLUMNS, "username")
    assert STRATEGIES["orm_load_only"](ctx, req).columns == (*LOAD_ONLY_COLUMNS, "username")
