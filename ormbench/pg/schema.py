"""ormbench's own schema: created with an ownership marker, never anything else touched.

The marker is the schema's COMMENT. A schema that exists without it belongs to somebody else,
and ormbench refuses to use it rather than risk a table of the same name.
"""

from __future__ import annotations

import hashlib

import psycopg
from psycopg import errors, sql

from ormbench import __version__
from ormbench.errors import SchemaOwnershipError

# The schema COMMENT that marks a schema as created (and so droppable) by ormbench.
OWNER_MARKER = "ormbench-owned"


def lock_key(purpose: str, name: str) -> int:
    """A signed 64-bit advisory lock key for ``purpose`` on ``name``, stable across processes."""
    digest = hashlib.sha256(f"ormbench:{purpose}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def ensure_owned_schema(conn: psycopg.Connection, schema: str) -> bool:
    """Create ``schema`` with the marker, or check the marker; True when it was created now.

    Check and creation run in one transaction under an advisory lock on the schema's name, and
    the marker is written in the same transaction as CREATE SCHEMA: concurrent creators wait,
    then find the schema made and marked; nobody ever sees it without its marker.
    """
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [lock_key("schema", schema)])
            if _check_existing(conn, schema):
                return False
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
            conn.execute(
                sql.SQL("COMMENT ON SCHEMA {} IS {}").format(
                    sql.Identifier(schema), sql.Literal(f"{OWNER_MARKER} (ormbench {__version__})")
                )
            )
        return True
    except errors.InsufficientPrivilege:
        raise SchemaOwnershipError(_no_create(conn, schema)) from None
    except (errors.UniqueViolation, errors.DuplicateSchema):
        # Created meanwhile by somebody who does not take ormbench's lock: judge what is there.
        with conn.transaction():
            _check_existing(conn, schema)
        return False


def _check_existing(conn: psycopg.Connection, schema: str) -> bool:
    """True if ``schema`` exists, is ormbench's and usable by this user; raise otherwise."""
    row = conn.execute(
        "SELECT obj_description(n.oid, 'pg_namespace'), "
        "has_schema_privilege(n.oid, 'USAGE'), has_schema_privilege(n.oid, 'CREATE') "
        "FROM pg_namespace n WHERE nspname = %s",
        [schema],
    ).fetchone()
    if row is None:
        return False
    comment, usage, create = row
    if not (comment or "").startswith(OWNER_MARKER):
        raise SchemaOwnershipError(
            f"schema {schema!r} exists but was not created by ormbench (no ownership "
            "marker); ormbench will not touch it: choose another with --pg-schema / "
            "ORMBENCH_PG_SCHEMA"
        )
    if not (usage and create):
        user = conn.info.user
        missing = " and ".join(p for p, ok in (("USAGE", usage), ("CREATE", create)) if not ok)
        raise SchemaOwnershipError(
            f"user {user!r} lacks {missing} on ormbench's schema {schema!r}; ask its owner to "
            f"GRANT USAGE, CREATE ON SCHEMA {schema} TO {user}, or choose another --pg-schema"
        )
    return True


def _no_create(conn: psycopg.Connection, schema: str) -> str:
    user, dbname = conn.info.user, conn.info.dbname
    return (
        f"user {user!r} may not create schema {schema!r} in database {dbname!r} (no CREATE "
        f"privilege on the database); GRANT CREATE ON DATABASE {dbname} TO {user}, or connect "
        "as a user who may (--pg-url)"
    )


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
