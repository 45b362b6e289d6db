"""The one small object every backend hands back, whoever started the server."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from sqlalchemy.engine import URL

from ormbench.pg.redact import remember

# Settings printed in pytest's header and stored with every run: the ones that change plans.
KEY_SETTINGS: tuple[str, ...] = (
    "jit",
    "plan_cache_mode",
    "shared_buffers",
    "work_mem",
    "random_page_cost",
    "effective_cache_size",
    "max_parallel_workers_per_gather",
    "fsync",
    "lc_collate",
)


@dataclass
class PgServer:
    """A PostgreSQL server ormbench can use: where it is and how to stop it."""

    backend: str
    host: str
    port: int
    user: str
    # Never in a repr (pytest prints fixture values in failure reports); see ormbench.pg.redact.
    password: str | None = field(repr=False)
    dbname: str = field()
    server_version: str = ""
    settings: Mapping[str, str] = field(default_factory=dict)
    # Backend specifics a later process needs to find what was started (data dir, pid, container).
    details: dict[str, str] = field(default_factory=dict)
    # Stops the server and removes what the backend created; a no-op for a server we did not start.
    _stop: Callable[[], None] | None = field(default=None, repr=False)
    _stopped: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        remember(self.password)

    @property
    def sqlalchemy_url(self) -> URL:
        """SQLAlchemy URL with the psycopg 3 driver."""
        return URL.create(
            "postgresql+psycopg",
            username=self.user,
            password=self.password,
            host=self.host,
            port=self.port,
            database=self.dbname,
        )

    @property
    def url(self) -> str:
        """The SQLAlchemy URL as a string, password included (it is a throwaway or the user's)."""
        return self.sqlalchemy_url.render_as_string(hide_password=False)

    @property
    def safe_url(self) -> str:
        """The SQLAlchemy URL with the password masked, for messages and logs."""
        return self.sqlalchemy_url.render_as_string(hide_password=True)

    @property
    def conninfo(self) -> str:
        """libpq conninfo string, e.g. for psql or psycopg.connect()."""
        parts = {
            "host": self.host,
            "port": str(self.port),
            "user": self.user,
            "dbname": self.dbname,
        }
        if self.password:
            parts["password"] = self.password
        return " ".join(f"{k}={_quote_conninfo(v)}" for k, v in parts.items())

    @property
    def major_version(self) -> int:
        return int(self.server_version.split(".")[0]) if self.server_version else 0

    def describe(self) -> str:
        """One line for pytest's header: backend, where, version."""
        where = f"{self.host}:{self.port}/{self.dbname}"
        return f"backend={self.backend} {where} PostgreSQL {self.server_version}"

    def stop(self) -> None:
        """Stop the server if ormbench started it; safe to call more than once."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        if self._stop is not None:
            self._stop()


def _quote_conninfo(value: str) -> str:
    if value and all(c not in value for c in " '\\"):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def psql_url(server: PgServer) -> str:
    """A libpq URL (postgresql://...) that psql accepts."""
    auth = quote(server.user, safe="")
    if server.password:
        auth += ":" + quote(server.password, safe="")
    return f"postgresql://{auth}@{server.host}:{server.port}/{quote(server.dbname, safe='')}"
