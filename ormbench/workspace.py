"""A server, ormbench's schema on it, and a seeded dataset: what every CLI command works on.

The pytest fixtures build the same thing from the same functions; this is the context-manager
form for code outside pytest.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Engine

from ormbench.config import Settings, parse_overrides
from ormbench.data.profiles import Profile, get_profile
from ormbench.data.roles import Roles, load_roles
from ormbench.data.seed import DatasetInfo, open_dataset
from ormbench.db import make_engine, prepare_schema
from ormbench.jsonload import get_loader
from ormbench.pg import PgServer, provision


@dataclass
class Workspace:
    """A seeded dataset on a server, with an engine per JSON loader."""

    server: PgServer
    schema: str
    profile: Profile
    info: DatasetInfo
    roles: Roles
    engine: Engine

    def engine_for(self, loader: str) -> Engine:
        """An engine on the dataset whose connections decode JSON with ``loader``."""
        return make_engine(self.server, self.schema, json_deserializer=get_loader(loader))


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
    profile = get_profile(settings.dataset, parse_overrides(settings.dataset_set))
    with open_server(settings) as server:
        prepare_schema(server, settings.pg_schema, settings.pg_connect_timeout)
        engine = make_engine(server, settings.pg_schema)
        try:
            show = sys.stderr.isatty() if progress is None else progress
            # Held for reading while the command measures: a reseed waits for it to end.
            info, reader = open_dataset(engine, profile, progress=show)
            try:
                with engine.connect() as conn:
                    roles = load_roles(conn)
                yield Workspace(server, settings.pg_schema, profile, info, roles, engine)
            finally:
                reader.close()
        finally:
            engine.dispose()
