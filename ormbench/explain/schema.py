"""The --json document's contract: ``schema.json`` beside this module, and its version.

The schema is data (JSON Schema 2020-12), so any validator checks a document against it; the
tests use the ``jsonschema`` library. docs/explain-json.md carries the same file verbatim.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

# Version of the --json document; bump it (schema.json, docs/explain-json.md) on any change.
SCHEMA_VERSION = 4


@cache
def _text() -> str:
    return resources.files(__package__).joinpath("schema.json").read_text(encoding="utf-8")


def explain_schema() -> dict[str, Any]:
    """A fresh copy of the document's JSON Schema."""
    return json.loads(_text())


__all__ = ["SCHEMA_VERSION", "explain_schema"]
