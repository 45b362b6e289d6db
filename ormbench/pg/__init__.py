"""Where PostgreSQL comes from: four backends behind one function, ``provision``."""

from __future__ import annotations

from ormbench.config import Settings
from ormbench.errors import BackendError
from ormbench.pg.docker import docker_unavailable_reason, start_docker
from ormbench.pg.local import find_bindir, start_local
from ormbench.pg.server import PgServer
from ormbench.pg.url import start_url

__all__ = ["PgServer", "choose_backend", "provision"]


def choose_backend(settings: Settings) -> tuple[str, str]:
    """The backend to use and why: url if given, else docker if an engine answers, else local."""
    backend = settings.pg_backend
    if backend != "auto":
        return backend, f"--pg-backend {backend} ({settings.source('pg_backend')})"
    if settings.pg_url:
        return "url", f"auto: a URL was given ({settings.source('pg_url')})"
    docker_reason = docker_unavailable_reason()
    if docker_reason is None:
        return "docker", "auto: a Docker engine answered"
    bindir, looked = find_bindir(settings.pg_bindir)
    if bindir is not None:
        return "local", f"auto: no Docker engine; server binaries in {bindir}"
    raise BackendError(
        "no PostgreSQL available: no --pg-url / ORMBENCH_PG_URL was given, no Docker engine "
        f"answered ({docker_reason}), and no server binaries were found "
        f"(looked in: {', '.join(looked)}); fix one: pass --pg-url URL, start Docker, "
        "or install PostgreSQL server binaries (or point --pg-bindir at them)"
    )


def provision(settings: Settings) -> PgServer:
    """Hand back a running server for these settings; the caller must ``stop()`` it."""
    backend, _why = choose_backend(settings)
    timeout = settings.pg_connect_timeout
    if backend == "url":
        if not settings.pg_url:
            raise BackendError(
                "--pg-backend url needs a server URL; pass --pg-url, set ORMBENCH_PG_URL "
                "or the ini key pg_url"
            )
        return start_url(settings.pg_url, timeout)
    if backend == "docker":
        return start_docker(settings.pg_image, timeout)
    return start_local(settings.pg_bindir, timeout)
