"""The JSON loader axis: which function psycopg uses to decode json/jsonb values.

With SQLAlchemy's psycopg dialect, JSONB values are decoded by psycopg, not by SQLAlchemy
(the dialect routes ``create_engine(json_deserializer=...)`` into psycopg's adapters). So the
loader is a property of the connection, shared by every strategy, the raw cursor included:
switching it changes the same work for all of them, and any strategy can run under any loader.

Two ways to choose it:

* ``engine_kwargs(name)`` for an engine created for one loader
  (``create_engine(url, **engine_kwargs("orjson"))``);
* ``JsonLoaderSwitch(engine)`` to switch one existing engine between loaders. It sets the
  loader on each new DBAPI connection (``connect`` event) and, on a switch, disposes the pool
  and opens one connection, so the cost of reconnecting stays outside timed rounds.

``CountingLoader`` wraps a loader to count calls and time them, to attribute decoding time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import orjson
from psycopg.types.json import set_json_loads
from sqlalchemy import Engine, event

from ormbench.errors import ConfigError

JsonLoads = Callable[[str | bytes], Any]

# The choices of --json-loader (see ormbench.config); "json" is psycopg's own default.
JSON_LOADERS: dict[str, JsonLoads] = {
    "json": json.loads,
    "orjson": orjson.loads,
}


def get_loader(name: str) -> JsonLoads:
    """The loader called ``name``; a ConfigError names the choices otherwise."""
    try:
        return JSON_LOADERS[name]
    except KeyError:
        raise ConfigError(
            f"unknown JSON loader {name!r}; choose one of: {', '.join(JSON_LOADERS)} "
            "(--json-loader / ORMBENCH_JSON_LOADER)"
        ) from None


def engine_kwargs(name: str) -> dict[str, Any]:
    """Keyword arguments for ``create_engine`` that make psycopg decode JSON with ``name``."""
    return {"json_deserializer": get_loader(name)}


class CountingLoader:
    """A loader wrapper counting calls, bytes and nanoseconds spent decoding.

    The wrapper's own overhead (two clock reads per value) is added to every strategy alike;
    use it for attribution runs, not for the headline timings.
    """

    def __init__(self, loads: JsonLoads) -> None:
        self.loads = loads
        self.calls = 0
        self.bytes = 0
        self.ns = 0

    def __call__(self, data: str | bytes) -> Any:
        start = time.perf_counter_ns()
        try:
            return self.loads(data)
        finally:
            self.ns += time.perf_counter_ns() - start
            self.calls += 1
            self.bytes += len(data)

    def reset(self) -> None:
        """Zero the counters (e.g. in a benchmark's per-round setup)."""
        self.calls = self.bytes = self.ns = 0

    @property
    def seconds(self) -> float:
        """Total decoding time so far."""
        return self.ns / 1e9


def set_connection_loader(dbapi_connection: Any, loads: JsonLoads) -> None:
    """Make one psycopg connection decode json and jsonb with ``loads``.

    Cursors created afterwards use it; SQLAlchemy result rows then carry its output as is.
    """
    set_json_loads(loads, context=dbapi_connection)


class JsonLoaderSwitch:
    """Switch an existing Engine's JSON loader between runs.

    The engine's pool is disposed on every switch (psycopg copies adapters into each
    connection), then warmed with one connection so no timed round pays for connecting.
    """

    def __init__(self, engine: Engine, loads: JsonLoads | str = "json") -> None:
        self.engine = engine
        self.loads: JsonLoads = get_loader(loads) if isinstance(loads, str) else loads
        event.listen(engine, "connect", self._on_connect)
        self.use(self.loads)

    def _on_connect(self, dbapi_connection: Any, _record: Any) -> None:
        set_connection_loader(dbapi_connection, self.loads)

    def use(self, loads: JsonLoads | str) -> JsonLoads:
        """Decode with ``loads`` (a function or a name in ``JSON_LOADERS``) from now on."""
        self.loads = get_loader(loads) if isinstance(loads, str) else loads
        self.engine.dispose()
        with self.engine.connect():
            pass  # one pooled connection, opened with the new loader
        return self.loads

    def close(self) -> None:
        """Stop switching: drop the pool's connections so new ones get the engine's own
        loader (``create_engine(json_deserializer=...)``, else psycopg's json.loads)."""
        event.remove(self.engine, "connect", self._on_connect)
        self.engine.dispose()


__all__ = [
    "JSON_LOADERS",
    "CountingLoader",
    "JsonLoaderSwitch",
    "JsonLoads",
    "engine_kwargs",
    "get_loader",
    "set_connection_loader",
]
