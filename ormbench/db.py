"""Engines on ormbench's schema: every connection's search_path is that schema and no other."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, create_engine

from ormbench.measure.cpu import track
from ormbench.pg.connect import connect
from ormbench.pg.schema import ensure_owned_schema
from ormbench.pg.server import PgServer


def prepare_schema(server: PgServer, schema: str, timeout: float) -> bool:
    """Create ormbench's schema (with its marker) or verify it is ormbench's; True if created."""
    with connect(server, timeout, autocommit=True) as conn:
        return ensure_owned_schema(conn, schema)


def make_engine(
    server: PgServer,
    schema: str,
    *,
    json_deserializer: Callable[[str | bytes], Any] = json.loads,
    connect_timeout: float = 5.0,
    **kwargs: Any,
) -> Engine:
    """An Engine whose connections see only ``schema`` (plus pg_catalog).

    ``json_deserializer`` is handed to psycopg for json/jsonb columns on every connection, so
    the same loader serves ORM, Core and raw-cursor strategies alike.
    """
    engine = create_engine(
        server.sqlalchemy_url,
        connect_args={
            "options": f"-c search_path={schema}",
            "connect_timeout": max(1, round(connect_timeout)),
            "application_name": "ormbench",
        },
        json_deserializer=json_deserializer,
        **kwargs,
    )
    track(engine)  # its connections' backends, for the CPU clock of timed executions
    return engine
