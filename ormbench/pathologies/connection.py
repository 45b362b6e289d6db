"""Connections for a variant: the trap's settings applied to ormbench's own connections only.

``engine_kwargs`` turns a ``ConnectionSpec`` into ``create_engine`` keyword arguments that
load ``TrapPlugin``: every DBAPI connection of the engine is opened with the variant's
settings in its startup options (``-c name=value``, the session-level ``SET``), its own
search_path, and, for a primed variant, after running the priming statements. Because the
trap is a property of the connection, any engine made with the same arguments reproduces it:
the benchmark's, and ``measure_phases``' plain and instrumented ones.

Nothing here writes to the shared dataset. The one trap that needs other DDL, a
``content_tags`` without its content-side indexes, is a copy in a schema of its own
(``<dataset schema>_unindexed``, ormbench-owned like every schema ormbench creates), put in
front of the dataset's schema on the search_path. It is built in one transaction, so a failed
build leaves nothing behind, and kept between runs like a seeded dataset, keyed by the
dataset's fingerprint.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import Engine, event, text
from sqlalchemy.dialects import plugins
from sqlalchemy.engine import CreateEnginePlugin

from ormbench.data.roles import Roles, load_roles
from ormbench.data.seed import META_DATASET
from ormbench.db import make_engine, prepare_schema
from ormbench.errors import DatasetError
from ormbench.jsonload import get_loader
from ormbench.measure.capture import Statement, capture
from ormbench.pathologies.base import ConnectionSpec, Pathology, Variant
from ormbench.pg.server import PgServer
from ormbench.query.spec import ContentRequest
from ormbench.strategies import StrategyContext

# Suffix of the schema holding the unindexed copy of content_tags.
UNINDEXED_SUFFIX = "_unindexed"
# The copy keeps the indexes that lead with tag_id (the page's EXISTS needs them) and drops
# the primary key and ix_content_tags_content_source, the two leading with content_id.
UNINDEXED_INDEXES: tuple[tuple[str, str], ...] = (
    ("ix_content_tags_tag_content", "tag_id, content_id"),
    ("ix_content_tags_tag_source_content", "tag_id, content_source, content_id"),
)
# Prefix of the copy's table COMMENT; the rest names the source and its dataset fingerprint.
COPY_MARKER = "ormbench unindexed copy of"
# Longest PostgreSQL identifier (NAMEDATALEN - 1).
MAX_IDENTIFIER = 63
# Seconds to wait for a connection when building the unindexed copy.
DEFAULT_CONNECT_TIMEOUT = 5.0
# Name of the SQLAlchemy engine plugin applying a trap, and its create_engine keyword.
PLUGIN_NAME = "ormbench_trap"
TRAP_KWARG = "ormbench_trap"


class TrapNotArmed(DatasetError):
    """A pathology's trap did not take effect on this dataset (its timing would mean nothing)."""


def unindexed_schema(schema: str) -> str:
    """Name of the schema holding ``schema``'s unindexed content_tags copy."""
    name = schema + UNINDEXED_SUFFIX
    if len(name) > MAX_IDENTIFIER:
        raise DatasetError(
            f"schema name {name!r} for the unindexed content_tags copy is longer than "
            f"{MAX_IDENTIFIER} characters: choose a shorter --pg-schema"
        )
    return name


def dataset_hash(conn: psycopg.Connection, schema: str) -> str:
    """The fingerprint hash of the dataset seeded in ``schema``."""
    row = conn.execute(
        sql.SQL("SELECT value ->> 'hash' FROM {}.ormbench_meta WHERE key = %s").format(
            sql.Identifier(schema)
        ),
        [META_DATASET],
    ).fetchone()
    if row is None or not row[0]:
        raise DatasetError(f"schema {schema!r} holds no seeded dataset: seed it first")
    return row[0]


def ensure_unindexed_copy(server: PgServer, schema: str, timeout: float) -> str:
    """Build (or reuse) the unindexed copy of ``schema``'s content_tags; return its schema."""
    copy = unindexed_schema(schema)
    prepare_schema(server, copy, timeout)
    with psycopg.connect(
        server.conninfo, connect_timeout=max(1, math.ceil(timeout)), autocommit=True
    ) as conn:
        marker = f"{COPY_MARKER} {schema}.content_tags, dataset {dataset_hash(conn, schema)}"
        table = sql.Identifier(copy, "content_tags")
        with conn.transaction():
            # One builder at a time; a second process waits, then finds the copy made.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [copy])
            current = conn.execute(
                "SELECT obj_description(to_regclass(%s), 'pg_class')",
                [f'"{copy}".content_tags'],
            ).fetchone()
            if current is not None and current[0] == marker:
                return copy
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
            conn.execute(
                sql.SQL("CREATE TABLE {} AS TABLE {}").format(
                    table, sql.Identifier(schema, "content_tags")
                )
            )
            for name, columns in UNINDEXED_INDEXES:
                conn.execute(
                    sql.SQL("CREATE INDEX {} ON {} ({})").format(
                        sql.Identifier(name), table, sql.SQL(columns)
                    )
                )
            conn.execute(sql.SQL("ANALYZE {}").format(table))
            conn.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(table, sql.Literal(marker)))
    return copy


def _options(search_path: Sequence[str], settings: Mapping[str, str]) -> str:
    # libpq splits options on spaces: neither schema names (identifiers) nor the settings
    # ormbench uses contain any.
    parts = [f"-c search_path={','.join(search_path)}"]
    parts += [f"-c {name}={value}" for name, value in settings.items()]
    return " ".join(parts)


def _check_generic(conn: psycopg.Connection, executions: int) -> None:
    generic = conn.execute(
        "SELECT coalesce(max(generic_plans), 0) FROM pg_prepared_statements WHERE NOT from_sql",
        prepare=False,
    ).fetchone()
    if not generic or not generic[0]:
        raise TrapNotArmed(
            f"after {executions} priming executions PostgreSQL still plans the prepared "
            "statement with its parameters (no generic plan): the dataset's statistics give "
            "the early requests a lower estimated cost than the generic plan's; check "
            "that the dataset is the canonical profile, freshly ANALYZEd"
        )


def generic_plans(engine: Engine) -> int:
    """Generic plans run so far by the prepared statements of ``engine``'s pooled connection.

    Read with an unprepared statement; a connection that is not autocommit commits the read,
    since a rollback (the pool's reset) makes psycopg deallocate every prepared statement.
    """
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        row = raw.execute(
            "SELECT coalesce(sum(generic_plans), 0) FROM pg_prepared_statements WHERE NOT from_sql",
            prepare=False,
        ).fetchone()
        if not raw.autocommit:
            raw.commit()
    return int(row[0]) if row else 0


def check_generic_ran(engine: Engine, before: int, executions: int, label: str) -> None:
    """Raise ``TrapNotArmed`` unless ``engine`` ran a generic plan in each of ``executions``
    since ``generic_plans`` read ``before`` (checked around the timed rounds, so a trap lost
    on the way, e.g. prepared statements deallocated, fails loudly instead of timing the fix)."""
    after = generic_plans(engine)
    if after - before < executions:
        raise TrapNotArmed(
            f"{label}: {executions} timed executions ran {after - before} generic plans "
            f"(pg_prepared_statements.generic_plans {before} -> {after}): the primed prepared "
            "statement was lost or re-planned, so the timing is not the trap's; something "
            "deallocated it (a rollback on the timed connection) or the dataset changed"
        )


@dataclass(frozen=True)
class Trap:
    """What ``TrapPlugin`` applies to every connection of an engine (``engine_kwargs``)."""

    options: str
    autocommit: bool
    prime: tuple[Statement, ...]
    executions: int
    expect_generic: bool

    def connect_params(self, cparams: dict[str, Any]) -> None:
        """Startup options (replacing make_engine's search_path) and autocommit."""
        cparams["options"] = self.options
        if self.autocommit:
            cparams["autocommit"] = True

    def arm(self, conn: psycopg.Connection) -> None:
        """Run the priming statements on a new connection (and check the trap took)."""
        for _ in range(self.executions):
            for statement in self.prime:
                conn.execute(statement.sql, statement.params).fetchall()
        if self.expect_generic:
            _check_generic(conn, self.executions)


class TrapPlugin(CreateEnginePlugin):
    """SQLAlchemy engine plugin: opens every DBAPI connection as a ``Trap`` says.

    A plugin rather than a ``creator``: the connection is still opened by the dialect, with
    the psycopg adapters it configures (the JSON loader among them, which explain's phase
    table wraps to time JSON decoding), and the trap reaches every engine built from the same
    ``create_engine`` arguments, the ones ``measure_phases`` builds included.
    """

    def __init__(self, url: Any, kwargs: dict[str, Any]) -> None:
        super().__init__(url, kwargs)
        self.trap: Trap = kwargs.pop(TRAP_KWARG)

    def update_url(self, url: Any) -> Any:
        return url  # the trap travels as a keyword argument, not in the URL

    def engine_created(self, engine: Engine) -> None:
        trap = self.trap

        def do_connect(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> None:
            trap.connect_params(cparams)

        def connect(dbapi_connection: Any, record: Any) -> None:
            trap.arm(dbapi_connection)

        event.listen(engine, "do_connect", do_connect)
        event.listen(engine, "connect", connect)


plugins.register(PLUGIN_NAME, __name__, "TrapPlugin")


def engine_kwargs(
    search_path: Sequence[str], spec: ConnectionSpec, prime: Sequence[Statement] = ()
) -> dict[str, Any]:
    """``create_engine`` arguments whose every connection is opened as ``spec`` says.

    ``prime`` holds captured statements (SQL and parameters exactly as the strategy sent
    them, so psycopg keys them as the same prepared statement); each new connection runs
    them ``spec.prime_executions`` times before it is handed out.
    """
    trap = Trap(
        options=_options(search_path, spec.settings),
        autocommit=spec.autocommit,
        prime=tuple(prime),
        executions=spec.prime_executions if prime else 0,
        expect_generic=spec.expect_generic,
    )
    kwargs: dict[str, Any] = {"plugins": [PLUGIN_NAME], TRAP_KWARG: trap}
    if spec.autocommit:
        kwargs["isolation_level"] = "AUTOCOMMIT"
    return kwargs


def current_schema(engine: Engine) -> str:
    """The first schema of ``engine``'s search_path: the dataset's schema."""
    with engine.connect() as conn:
        return conn.execute(text("SELECT current_schema()")).scalar_one()


@dataclass
class VariantRun:
    """A variant ready to run: its engine and context, its request, and how to rebuild both.

    ``engine_kwargs`` and ``schema`` are what ``make_engine`` (and ``measure_phases``) need to
    open more connections exactly like this engine's.
    """

    variant: Variant
    req: ContentRequest
    engine: Engine
    ctx: StrategyContext
    schema: str
    engine_kwargs: dict[str, Any]

    def run(self) -> Any:
        """One execution of the variant's strategy on its request."""
        return self.variant.strategy(self.ctx, self.req)


def prime_statements(
    server: PgServer, schema: str, variant: Variant, roles: Roles, loader: str
) -> list[Statement]:
    """The statements the variant's strategy sends for its priming request (captured once on
    a plain engine, outside any timing)."""
    if variant.connection.prime is None:
        return []
    engine = make_engine(server, schema, json_deserializer=get_loader(loader))
    try:
        with engine.connect() as conn:
            req = variant.connection.prime(conn, roles)
        with capture(engine) as captured:
            variant.strategy(StrategyContext(engine), req)
    finally:
        engine.dispose()
    return list(captured.statements)


@contextlib.contextmanager
def open_variant(
    server: PgServer,
    schema: str,
    pathology: Pathology,
    which: str,
    *,
    loader: str = "json",
    timeout: float = DEFAULT_CONNECT_TIMEOUT,
) -> Iterator[VariantRun]:
    """One variant of ``pathology`` on the dataset in ``schema``: engine, context, request.

    The engine is disposed on exit, closing every connection and with them every
    session-level setting and prepared statement.
    """
    variant = pathology.variant(which)
    spec = variant.connection
    plain = make_engine(server, schema, connect_timeout=timeout)
    try:
        with plain.connect() as conn:
            roles = load_roles(conn)
            req = pathology.request_for(which)(conn, roles)
    finally:
        plain.dispose()
    search_path = [schema]
    if spec.unindexed_tags:
        search_path.insert(0, ensure_unindexed_copy(server, schema, timeout))
    prime = prime_statements(server, schema, variant, roles, loader)
    kwargs = engine_kwargs(search_path, spec, prime)
    engine = make_engine(
        server, schema, json_deserializer=get_loader(loader), connect_timeout=timeout, **kwargs
    )
    try:
        yield VariantRun(variant, req, engine, StrategyContext(engine), schema, kwargs)
    finally:
        engine.dispose()


__all__ = [
    "UNINDEXED_INDEXES",
    "Trap",
    "TrapNotArmed",
    "TrapPlugin",
    "VariantRun",
    "check_generic_ran",
    "current_schema",
    "dataset_hash",
    "engine_kwargs",
    "ensure_unindexed_copy",
    "generic_plans",
    "open_variant",
    "prime_statements",
    "unindexed_schema",
]
