"""One conversion of Python values to JSON, for pages, statement parameters and bodies."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

from ormbench.jsonable import jsonable
from ormbench.measure.capture import Statement


def test_values_postgresql_returns_become_json() -> None:
    at = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    value = {"at": at, 1: [ident, Decimal("1.50"), date(2024, 5, 1)], "t": (True, None, 2.5)}
    assert jsonable(value) == {
        "at": "2024-05-01T12:00:00+00:00",
        "1": ["12345678-1234-5678-1234-567812345678", "1.50", "2024-05-01"],
        "t": [True, None, 2.5],
    }


def test_as_json_dumps_default_only_what_json_cannot_write() -> None:
    at = datetime(2024, 5, 1, tzinfo=UTC)
    assert json.dumps({"a": [at, 1]}, default=jsonable) == '{"a": ["2024-05-01T00:00:00+00:00", 1]}'


def test_statement_params_are_written_as_pages_are() -> None:
    at = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    statement = Statement("SELECT %(a)s", {"a": at})
    assert statement.as_dict()["params"] == {"a": "2024-05-01T12:00:00+00:00"}
