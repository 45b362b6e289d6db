"""ormbench's own schema: created with an ownership marker, never anything else touched.

The marker is the schema's COMMENT. A schema that exists without it belongs to somebody else,
and ormbench refuses to use it rather than risk a table of the same name.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from ormbench import __version__
from ormbench.errors import SchemaOwnershipError

# The schema COMMENT that marks a schema as created (and so droppable) by ormbench.
OWNER_MARKER = "ormbench-owned"


def ensure_owned_schema(conn: psycopg.Connection, schema: str) -> bool:
    """Create ``schema`` with the marker, or check the marker; True when it was created now."""
    row = conn.execute(
        "SELECT obj_description(n.oid, 'pg_namespace') FROM pg_namespace n WHERE nspname = %s",
        [schema],
    ).fetchone()
    if row is not None:
        comment = row[0] or ""
        if not comment.startswith(OWNER_MARKER):
            raise SchemaOwnershipError(
                f"schema {schema!r} exists but was not created by ormbench (no ownership "
                "marker); ormbench will not touch it: choose another with --pg-schema / "
                "ORMBENCH_PG_SCHEMA"
            )
        return False
    with conn.transaction():
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        conn.execute(
            sql.SQL("COMMENT ON SCHEMA {} IS {}").format(
                sql.Identifier(schema), sql.Literal(f"{OWNER_MARKER} (ormbench {__version__})")
            )
        )
    return True


def drop_owned_schema(conn: psycopg.Connection, schema: str) -> None:
    """Drop ``schema`` only if ormbench's marker says ormbench created it."""
    row = conn.execute(
        "SELECT obj_description(n.oid, 'pg_namespace') FROM pg_namespace n WHERE nspname = %s",
        [schema],
    ).fetchone()
    if row is None:
        return
    if not (row[0] or "").startswith(OWNER_MARKER):
        raise SchemaOwnershipError(
            f"refusing to drop schema {schema!r}: it has no ormbench ownership marker"
        )
    conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
