"""Where PostgreSQL comes from: four backends behind one function, ``provision``."""

from __future__ import annotations

import sys

from ormbench.config import Settings
from ormbench.errors import BackendError
from ormbench.pg.docker import docker_unavailable_reason, image_present, start_docker
from ormbench.pg.local import find_bindir, start_local
from ormbench.pg.server import PgServer
from ormbench.pg.url import start_url

__all__ = ["PgServer", "choose_backend", "provision", "provision_explained"]

# How the reason of an auto run that could not use its Docker engine begins.
FALLBACK = "auto: fell back to local binaries"


def _image_present(image: str) -> bool:
    try:
        return image_present(image)
    except Exception:  # the engine stopped answering between the ping and this question
        return False


def choose_backend(settings: Settings) -> tuple[str, str]:
    """The backend to use and why: url if given, else docker if an engine answers and holds
    the image (auto never pulls while binaries can serve), else local."""
    backend = settings.pg_backend
    if backend != "auto":
        return backend, f"--pg-backend {backend} ({settings.source('pg_backend')})"
    if settings.pg_url:
        return "url", f"auto: a URL was given ({settings.source('pg_url')})"
    docker_reason = docker_unavailable_reason()
    if docker_reason is None and _image_present(settings.pg_image):
        return "docker", f"auto: a Docker engine answered and holds {settings.pg_image}"
    bindir, looked = find_bindir(settings.pg_bindir)
    if bindir is not None:
        if docker_reason is None:
            return "local", (
                f"{FALLBACK} in {bindir}: the Docker engine holds no image {settings.pg_image} "
                "and auto never pulls (docker pull it, or docker/postgres/build.sh and "
                "--pg-image)"
            )
        return "local", f"auto: no Docker engine; server binaries in {bindir}"
    if docker_reason is None:
        return "docker", (
            f"auto: a Docker engine answered; no server binaries, so {settings.pg_image} is pulled"
        )
    raise BackendError(
        "no PostgreSQL available: no --pg-url / ORMBENCH_PG_URL was given, no Docker engine "
        f"answered ({docker_reason}), and no server binaries were found "
        f"(looked in: {', '.join(looked)}); fix one: pass --pg-url URL, start Docker, "
        "or install PostgreSQL server binaries (or point --pg-bindir at them)"
    )


def provision_explained(settings: Settings) -> tuple[PgServer, str]:
    """A running server for these settings and why this backend; the caller must ``stop()`` it.

    In auto mode a container that cannot start falls back to local binaries when there are
    some; an explicit ``--pg-backend docker`` fails loudly instead.
    """
    backend, why = choose_backend(settings)
    timeout = settings.pg_connect_timeout
    if backend == "url":
        if not settings.pg_url:
            raise BackendError(
                "--pg-backend url needs a server URL; pass --pg-url, set ORMBENCH_PG_URL "
                "or the ini key pg_url"
            )
        return start_url(settings.pg_url, timeout), why
    if backend == "docker":
        try:
            return start_docker(settings.pg_image, timeout), why
        except BackendError as exc:
            bindir, _looked = find_bindir(settings.pg_bindir)
            if settings.pg_backend != "auto" or bindir is None:
                raise
            why = f"{FALLBACK} in {bindir}: the container did not start ({exc})"
    return start_local(settings.pg_bindir, timeout), why


def provision(settings: Settings) -> PgServer:
    """Hand back a running server for these settings; the caller must ``stop()`` it.

    A fallback from Docker to local binaries is said in one line on stderr.
    """
    server, why = provision_explained(settings)
    if why.startswith(FALLBACK):
        print(f"ormbench: {why}", file=sys.stderr)
    return server
