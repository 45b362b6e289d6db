"""Every response path's body is the oracle's page, and the FastAPI app validates its input.

Bodies are decoded by ``ormbench.response.decode`` (strict: keys, JSON types, page) and
compared with the oracle's page on ``tiny``; the app is the real FastAPI app served through
httpx's ASGI transport.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ormbench.query.scenarios import PAGE_SIZES, SCENARIOS, build_request
from ormbench.query.spec import ContentRequest, Page
from ormbench.response.app import AppClient, make_app
from ormbench.response.decode import BodyError, decode_body
from ormbench.response.paths import (
    FLOOR_PATH,
    PATHS,
    PATHS_BY_NAME,
    PRODUCTION_PATH,
    ResponsePath,
    get_path,
)
from ormbench.response.render import RENDERERS
from ormbench.response.schema import ContentListItem
from tests import test_query_correctness as correctness
from tests.test_query_correctness import World, random_requests

world = correctness.world
TINY = pytest.mark.parametrize("world", ["tiny"], indirect=True)
APP_PATHS = [p.name for p in PATHS if p.app]


def assert_body(world: World, path: ResponsePath, req: ContentRequest, body: bytes) -> Page:
    expected = world.oracle.page(req)
    actual = decode_body(body, req)
    problems = expected.diff(actual)
    assert not problems, f"{path.name} on {req}:\n" + "\n".join(problems)
    return actual


def test_paths_and_schema() -> None:
    """Every path renders with a known renderer; the floor and production paths exist; the
    schema's fields are the list columns in order, then the username."""
    assert {p.response for p in PATHS} <= set(RENDERERS)
    assert get_path(FLOOR_PATH).strategy == "dbapi_fetchall"
    assert get_path(PRODUCTION_PATH).strategy == "orm_scalars"
    assert len(PATHS_BY_NAME) == len(PATHS)
    from ormbench.data.models import LIST_COLUMNS

    assert tuple(ContentListItem.model_fields) == (*LIST_COLUMNS, "username")


@TINY
@pytest.mark.parametrize("path", [p.name for p in PATHS])
@pytest.mark.parametrize("page_size", PAGE_SIZES, ids=lambda n: f"p{n}")
def test_body_matches_oracle(world: World, page_size: int, path: str) -> None:
    """Every scenario's page, first and own, with and without total and username, decodes
    to exactly the oracle's page."""
    rp = get_path(path)
    for name in SCENARIOS:
        req = build_request(name, world.roles, page_size, world.oracle.cursor)
        for variant in (req, req.with_page(1), replace(req, with_total=True, with_username=False)):
            assert_body(world, rp, variant, rp.body(world.ctx, variant))


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
@TINY
def test_random_requests_bodies(world: World, data: st.DataObject) -> None:
    """Random filter, sort and page combinations: every path's body is the oracle's page."""
    req = data.draw(random_requests(world), label="request")
    rp = data.draw(st.sampled_from(PATHS), label="path")
    assert_body(world, rp, req, rp.body(world.ctx, req))


@TINY
def test_bodies_of_one_request_agree_byte_for_byte(world: World) -> None:
    """Pydantic (FastAPI's default) and orjson render the same bytes for the same page; the
    bodies holding the server's JSON text differ in formatting only (whitespace, timestamps
    without trailing zeros), so they decode to the same page."""
    req = build_request("canonical", world.roles, 25)
    bodies = {p.name: p.body(world.ctx, req) for p in PATHS}
    for name in ("dbapi_server_json-server", "orm_json_text-orjson"):
        server = bodies.pop(name)
        assert server != bodies[FLOOR_PATH]
        assert decode_body(server, req) == decode_body(bodies[FLOOR_PATH], req)
    assert len(set(bodies.values())) == 1, sorted(bodies)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"not json", "not JSON"),
        (b'{"items": []}', "not a page envelope"),
        (b'{"items": [], "page": 2, "page_size": 10, "total": null}', "requested 1 of 10"),
        (b'{"items": {}, "page": 1, "page_size": 10, "total": null}', "items is not a list"),
        (b'{"items": [1], "page": 1, "page_size": 10, "total": null}', "not an object"),
        (b'{"items": [{"id": 1}], "page": 1, "page_size": 10, "total": null}', "has keys"),
    ],
)
def test_decode_rejects_what_is_not_the_response(body: bytes, match: str) -> None:
    """A body that is not the response to the request is an error naming what is wrong."""
    req = ContentRequest(user_id="00000000-0000-0000-0000-000000000001")
    with pytest.raises(BodyError, match=match):
        decode_body(body, req)


@pytest.mark.parametrize(
    ("column", "value", "match"),
    [
        ("id", "1", "expected an integer"),
        ("creator_id", 5, "expected a string"),
        ("created_at", "2024-01-01T00:00:00+00:00", "with one"),
        ("quality_score", "0.5", "expected a number"),
        ("is_private", 0, "true or false"),
    ],
)
def test_decode_is_strict_about_types(column: str, value: object, match: str) -> None:
    """Each field is checked against the JSON type the schema promises."""
    item = {
        "id": 1,
        "source_type": "items",
        "title": "t",
        "content_type": "image",
        "content_data": {},
        "path_thumb": None,
        "path_thumbs_alt_res": None,
        "prompt": None,
        "item_metadata": {},
        "creator_id": "00000000-0000-0000-0000-000000000002",
        "created_at": "2024-01-01T00:00:00.5",
        "updated_at": "2024-01-01T00:00:00",
        "quality_score": 1,
        "is_private": False,
    }
    req = ContentRequest(user_id="00000000-0000-0000-0000-000000000001")
    doc = {"items": [item], "page": 1, "page_size": 10, "total": None}
    page = decode_body(json.dumps(doc).encode(), req)
    assert page.rows[0][page.columns.index("quality_score")] == 1.0
    assert page.rows[0][page.columns.index("created_at")] == dt.datetime(
        2024, 1, 1, 0, 0, 0, 500000
    )
    item[column] = value
    with pytest.raises(BodyError, match=match):
        decode_body(json.dumps(doc).encode(), req)


@pytest.fixture(scope="module")
def clients(request: pytest.FixtureRequest) -> Iterator[dict[str, AppClient]]:
    """One app client per app path on the tiny world."""
    w: World = request.getfixturevalue("world")
    out = {name: AppClient(make_app(w.ctx, get_path(name))) for name in APP_PATHS}
    yield out
    for client in out.values():
        client.close()


@TINY
def test_app_serves_the_oracle_page(world: World, clients: dict[str, AppClient]) -> None:
    """Through the FastAPI app, every app path's body is the oracle's page, with a JSON
    content type; the Pydantic path's bytes are exactly render.pydantic_body's."""
    for name, client in clients.items():
        path = get_path(name)
        for scenario in SCENARIOS:
            req = build_request(scenario, world.roles, 10, world.oracle.cursor)
            response = client.get(req.to_query())
            assert response.status_code == 200, (name, response.text[:300])
            assert response.headers["content-type"] == "application/json"
            assert_body(world, path, req, response.content)
            if path.response == "pydantic":
                assert response.content == path.body(world.ctx, req)


@TINY
@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "1001"}, "page_size"),
        ({"page": "x"}, "page"),
        ({"content_source_types": ["user-regular", "nobody"]}, "content_source_types"),
        ({"user_id": "not-a-uuid"}, "user_id"),
        ({"user_id": []}, "user_id"),
        ({"sort_field": "id; drop table users"}, "sort_field"),
        ({"sort_order": "sideways"}, "sort_order"),
        ({"tag_match": "some"}, "tag_match"),
        ({"tag": [f"00000000-0000-0000-0000-{n:012d}" for n in range(21)]}, "tag"),
        ({"after": "yesterday,5"}, "query"),
        ({"with_total": "maybe"}, "with_total"),
    ],
)
def test_app_rejects_bad_parameters_with_422(
    world: World, clients: dict[str, AppClient], change: dict[str, object], where: str
) -> None:
    """A bad query parameter is a 422 naming it, never a 500 and never a page."""
    req = build_request("canonical", world.roles, 10)
    params = {**req.to_query(), **change}
    response = clients[PRODUCTION_PATH].get(params)
    assert response.status_code == 422, response.text[:300]
    assert where in {str(part) for error in response.json()["detail"] for part in error["loc"]}
