"""Python values as JSON: the one conversion for pages, statement parameters and bodies.

``ormbench page --json``, explain's statement parameters and the endpoint body of the
``serialize`` phase all write what PostgreSQL returned the same way: timestamps in ISO 8601,
UUIDs and decimals as text, containers recursively.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any


def jsonable(value: Any) -> Any:
    """``value`` as JSON carries it: timestamps in ISO 8601, mappings (keys as text), lists and
    tuples recursively, anything else JSON has no type for (UUIDs, decimals, ...) as its text.

    Also ``json.dumps``'s ``default``: called only for what the encoder cannot write itself, it
    leaves JSON's own values to the encoder's C code (the endpoint body's cost).
    """
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


__all__ = ["jsonable"]
