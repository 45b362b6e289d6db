"""ormbench/pg/connect.py: what a server reports about itself is text, whatever its encoding."""

from __future__ import annotations

import dataclasses
import os

import psycopg
import pytest

from ormbench.pg.connect import inspect
from ormbench.pg.server import PgServer


def test_version_and_settings_are_text_on_a_sql_ascii_database(pg_server: PgServer):
    """On a SQL_ASCII database psycopg hands text back as bytes; the server's version and
    settings are still reported as text (never b'15.18')."""
    if pg_server.backend not in ("local", "docker"):
        pytest.skip("creates a database: only on a server ormbench started itself")
    name = f"ormbench_ascii_{os.getpid()}"
    with psycopg.connect(pg_server.conninfo, autocommit=True) as conn:
        conn.execute(
            f"CREATE DATABASE {name} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' "
            "TEMPLATE template0"
        )
    try:
        ascii_server = dataclasses.replace(pg_server, dbname=name, _stop=None)
        with psycopg.connect(ascii_server.conninfo) as conn:
            assert isinstance(conn.execute("SHOW server_version").fetchone()[0], bytes)
        inspect(ascii_server, 5)
        assert ascii_server.server_version == pg_server.server_version
        assert all(isinstance(v, str) for v in ascii_server.settings.values())
    finally:
        with psycopg.connect(pg_server.conninfo, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name}")
