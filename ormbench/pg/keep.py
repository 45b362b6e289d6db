"""A server kept alive between runs: ``ormbench up`` starts it, ``ormbench down`` removes it.

The kept server is remembered in a small JSON state file; later runs reach it through
``ORMBENCH_PG_URL`` like any other running server, and reuse its seeded datasets. The file holds
the server's URL with its random password (so that a second ``up`` prints it again): it is 0600
in a 0700 directory (:mod:`ormbench.pg.state`). ``down`` stops a local cluster only after
proving its postmaster (:func:`ormbench.pg.local.stop_cluster_dir`).
"""

from __future__ import annotations

import os
from pathlib import Path

from ormbench.config import Settings
from ormbench.errors import BackendError, ConnectError
from ormbench.pg import choose_backend
from ormbench.pg.connect import inspect
from ormbench.pg.docker import start_docker
from ormbench.pg.local import reap_orphans, start_local, stop_cluster_dir
from ormbench.pg.server import PgServer
from ormbench.pg.state import read_json, state_dir, write_private
from ormbench.pg.url import parse_url


def state_file() -> Path:
    """Where the kept server is remembered (see ormbench.pg.state)."""
    return state_dir() / "kept-server.json"


def read_state() -> dict | None:
    return read_json(state_file())


def kept_server(timeout: float) -> PgServer | None:
    """The kept server if the state file names one that answers; None otherwise."""
    state = read_state()
    if not state:
        return None
    try:
        server = parse_url(state["url"])
        server.backend = state["backend"]
        return inspect(server, timeout)
    except (ConnectError, KeyError):
        return None


def up(settings: Settings) -> PgServer:
    """Start (or find) the kept server and remember it."""
    existing = kept_server(settings.pg_connect_timeout)
    if existing is not None:
        return existing
    if read_state():
        down()  # a stale state file: its server died; clean what is left of it
    backend, _why = choose_backend(settings)
    if backend == "url":
        raise BackendError(
            "ormbench up starts a server, but a URL was given; use that server directly, "
            "or unset ORMBENCH_PG_URL / --pg-url to start a local or docker one"
        )
    if backend == "docker":
        # The container must outlive this process: no reaper container, no stop at exit.
        os.environ["TESTCONTAINERS_RYUK_DISABLED"] = "true"
        server = start_docker(settings.pg_image, settings.pg_connect_timeout)
        server._stop = None
    else:
        server = start_local(settings.pg_bindir, settings.pg_connect_timeout, keep=True)
    write_private(state_file(), {"backend": backend, "url": server.url, **server.details})
    return server


def down() -> str:
    """Stop and remove the kept server; return what was done."""
    state = read_state()
    if not state:
        return "no kept server"
    if state.get("backend") == "docker" and state.get("container"):
        try:
            import docker

            docker.from_env(timeout=5).containers.get(state["container"]).remove(force=True)
        except Exception as exc:  # already gone, or the engine is down: nothing left to stop
            _ = exc
    elif state.get("root"):
        stop_cluster_dir(Path(state["root"]))
    state_file().unlink(missing_ok=True)
    return f"removed kept {state.get('backend')} server at {_shown(state)}"


def _shown(state: dict) -> str:
    try:
        return parse_url(str(state["url"])).safe_url
    except Exception:  # a damaged state file: say so rather than print what it holds
        return "(unreadable URL)"


def down_orphans() -> list[str]:
    """Stop the clusters of runs that died without stopping them (``ormbench down --orphans``)."""
    return reap_orphans()
