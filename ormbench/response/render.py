"""Renderers: a page's loaded items to the endpoint's response body (bytes).

``content`` is what a handler returns: ``{"items": [...], "page", "page_size", "total"}``.

* ``pydantic``: what FastAPI does with ``response_model`` and no ``response_class`` (the
  pinned FastAPI's ``serialize_response(dump_json=True)``): validate the content through the
  response model's TypeAdapter with ``from_attributes`` (ORM entities and Rows are read by
  attribute), then Pydantic's own JSON serializer, straight to bytes.
* ``pydantic_jsonresponse``: the same with ``response_class=JSONResponse`` (and FastAPI before
  it serialized to bytes itself): validate, dump to JSON-compatible Python, then ``json.dumps``
  as ``JSONResponse.render`` does.
* ``orjson``: items that are already plain dicts, serialized by orjson (UUIDs and timestamps
  natively), no validation.
* ``server``: the body PostgreSQL built, passed through.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from ormbench.response.schema import RESPONSE_ADAPTER

Renderer = Callable[[Any], bytes]


def validate_response(content: Mapping[str, Any]) -> Any:
    """The response model's validation, as FastAPI runs it: ``from_attributes``."""
    return RESPONSE_ADAPTER.validate_python(content, from_attributes=True)


def pydantic_json(value: Any) -> bytes:
    """A validated response serialized by Pydantic's own JSON serializer, to bytes."""
    return RESPONSE_ADAPTER.dump_json(value, by_alias=True)


def jsonresponse_json(value: Any) -> bytes:
    """A validated response dumped to JSON-compatible Python, then ``json.dumps``."""
    plain = RESPONSE_ADAPTER.dump_python(value, mode="json", by_alias=True)
    # starlette.responses.JSONResponse.render, verbatim.
    return json.dumps(
        plain, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


def pydantic_body(content: Mapping[str, Any]) -> bytes:
    """Pydantic response_model, as FastAPI renders it: validate, then dump_json"""
    return pydantic_json(validate_response(content))


def pydantic_jsonresponse_body(content: Mapping[str, Any]) -> bytes:
    """Pydantic response_model with JSONResponse: validate, dump_python(mode=json), json.dumps"""
    return jsonresponse_json(validate_response(content))


def orjson_body(content: Mapping[str, Any]) -> bytes:
    """orjson.dumps of plain dicts"""
    return orjson.dumps(content)


def server_body(content: bytes) -> bytes:
    """PostgreSQL's json_agg body, passed through"""
    return content


RENDERERS: dict[str, Renderer] = {
    "pydantic": pydantic_body,
    "pydantic_jsonresponse": pydantic_jsonresponse_body,
    "orjson": orjson_body,
    "server": server_body,
}
# Each renderer as its validation (None: none) and its serialization, which explain times
# apart (its "Pydantic validation" and "serialize JSON body" phases).
STEPS: dict[str, tuple[Callable[[Any], Any] | None, Renderer]] = {
    "pydantic": (validate_response, pydantic_json),
    "pydantic_jsonresponse": (validate_response, jsonresponse_json),
    "orjson": (None, orjson_body),
    "server": (None, server_body),
}

__all__ = [
    "RENDERERS",
    "STEPS",
    "Renderer",
    "jsonresponse_json",
    "orjson_body",
    "pydantic_body",
    "pydantic_json",
    "pydantic_jsonresponse_body",
    "server_body",
    "validate_response",
]
