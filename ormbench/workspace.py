"""A server, ormbench's schema on it, and a seeded dataset: what every CLI command works on.

The one builder and the one type: the pytest fixtures (``ormbench.plugin``: ``dataset``,
``seeded``) and the commands assemble the profile, the schema's engine and the held dataset
with the functions below into a ``Workspace``; ``open_workspace`` is the context-manager form
for code outside pytest.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from ormbench.config import Settings, parse_overrides
from ormbench.data.profiles import Profile, get_profile
from ormbench.data.roles import Roles, load_roles
from ormbench.data.seed import DatasetInfo, DatasetReader, Progress, open_dataset
from ormbench.db import make_engine, prepare_schema
from ormbench.jsonload import get_loader
from ormbench.pg import PgServer, provision
from ormbench.query.build import fetch_cursor
from ormbench.query.scenarios import build_request
from ormbench.query.spec import ContentRequest
from ormbench.strategies import StrategyContext


@dataclass
class Workspace:
    """A seeded dataset on a server: its schema and engine, what the seeder reported, its roles,
    an engine per JSON loader on demand, and, when the dataset is held (the commands', the
    benchmarked one), its reader lock: a reseed waits until it is released."""

    server: PgServer
    schema: str
    profile: Profile
    info: DatasetInfo
    roles: Roles
    engine: Engine
    connect_timeout: float = 5.0
    reader: DatasetReader | None = None

    def engine_for(self, loader: str) -> Engine:
        """An engine on the dataset whose connections decode JSON with ``loader``."""
        return make_engine(
            self.server,
            self.schema,
            json_deserializer=get_loader(loader),
            connect_timeout=self.connect_timeout,
        )

    def request(self, scenario: str, page_size: int) -> ContentRequest:
        """The scenario's request on this dataset, keyset cursor resolved."""
        with self.engine.connect() as conn:
            return build_request(
                scenario, self.roles, page_size, functools.partial(fetch_cursor, conn)
            )


def configured_profile(settings: Settings) -> Profile:
    """The profile chosen with --dataset and --dataset-set."""
    return get_profile(settings.dataset, parse_overrides(settings.dataset_set))


def schema_engine(
    server: PgServer, settings: Settings, schema: str | None = None, **kwargs: Any
) -> Engine:
    """``schema`` (default --pg-schema) prepared as ormbench's on ``server``, and an Engine whose
    connections see only it and give up after --pg-connect-timeout."""
    schema = schema or settings.pg_schema
    prepare_schema(server, schema, settings.pg_connect_timeout)
    return make_engine(server, schema, connect_timeout=settings.pg_connect_timeout, **kwargs)


@contextlib.contextmanager
def held_dataset(
    server: PgServer,
    settings: Settings,
    engine: Engine,
    profile: Profile,
    *,
    progress: Progress = False,
) -> Iterator[Workspace]:
    """The dataset of ``profile`` in ormbench's schema (``engine``'s, --pg-schema), seeded or
    reused by fingerprint, as a Workspace held for reading (a reseed waits) until the block
    ends."""
    info, reader = open_dataset(engine, profile, progress=progress)
    try:
        with engine.connect() as conn:
            roles = load_roles(conn)
        timeout = settings.pg_connect_timeout
        yield Workspace(server, settings.pg_schema, profile, info, roles, engine, timeout, reader)
    finally:
        reader.close()


@contextlib.contextmanager
def open_server(settings: Settings) -> Iterator[PgServer]:
    """The configured server; one ormbench started is stopped (and removed) on exit."""
    server = provision(settings)
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def open_workspace(settings: Settings, *, progress: bool | None = None) -> Iterator[Workspace]:
    """Server, schema and dataset (seeded or reused) for the configured profile."""
    profile = configured_profile(settings)
    with open_server(settings) as server:
        engine = schema_engine(server, settings)
        try:
            show = sys.stderr.isatty() if progress is None else progress
            # Held for reading while the command measures: a reseed waits for it to end.
            with held_dataset(server, settings, engine, profile, progress=show) as ws:
                yield ws
        finally:
            engine.dispose()


@contextlib.contextmanager
def open_case(
    settings: Settings, scenario: str, page_size: int
) -> Iterator[tuple[StrategyContext, ContentRequest]]:
    """A strategy context on the configured dataset (engine with the first JSON loader) and
    the request of ``scenario`` at ``page_size``: what a script timing strategies needs."""
    with open_workspace(settings, progress=False) as ws:
        req = ws.request(scenario, page_size)
        engine = ws.engine_for(settings.json_loader[0])
        try:
            yield StrategyContext(engine), req
        finally:
            engine.dispose()
