"""Backend ``docker``: Testcontainers' PostgreSQL module, one container per session."""

from __future__ import annotations

import logging
import secrets

from ormbench.errors import BackendError
from ormbench.pg.connect import inspect, wait_ready
from ormbench.pg.local import BENCHMARK_SETTINGS, PASSWORD_BYTES
from ormbench.pg.server import PgServer

# Seconds a Docker engine gets to answer a ping before ormbench calls it absent.
DOCKER_PING_TIMEOUT = 1.0
# Seconds the container gets to answer SELECT 1 after it started.
READY_DEADLINE = 60.0


class ImageMissing(BackendError):
    """The engine answers but does not hold the image, and ormbench was told not to pull it."""


def docker_unavailable_reason(timeout: float = DOCKER_PING_TIMEOUT) -> str | None:
    """None when a Docker engine answers a ping within ``timeout``; otherwise why not."""
    try:
        import docker

        client = docker.from_env(timeout=max(1, int(timeout)))
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # docker raises many types; every one means "no engine for us"
        return " ".join(str(exc).split())[:200] or type(exc).__name__
    return None


def image_present(image: str) -> bool:
    """Whether the engine holds ``image`` already (asking never pulls)."""
    import docker

    client = docker.from_env(timeout=5)
    try:
        client.images.get(image)
        return True
    except docker.errors.ImageNotFound:
        return False
    finally:
        client.close()


def _no_reaper_unless_local() -> None:
    # Testcontainers' reaper (Ryuk) is an image of its own, pulled on first use: where no
    # registry answers that pull fails and so would every start. ormbench removes its container
    # itself (on exit, failure, Ctrl-C and SIGTERM), so the reaper runs only when already there.
    from testcontainers.core.config import testcontainers_config

    if not testcontainers_config.ryuk_disabled and not image_present(
        testcontainers_config.ryuk_image
    ):
        testcontainers_config.ryuk_disabled = True


def start_docker(image: str, connect_timeout: float, *, pull: bool = True) -> PgServer:
    """Start ``image`` through Testcontainers with ormbench's benchmark settings.

    With ``pull=False`` an image the engine does not hold raises ``ImageMissing`` before
    anything is started (``auto`` never pulls: a pull without a registry takes minutes to fail).
    """
    reason = docker_unavailable_reason()
    if reason is not None:
        raise BackendError(
            f"--pg-backend docker: no Docker engine answered within {DOCKER_PING_TIMEOUT:g}s "
            f"({reason}); start Docker, or use --pg-backend local (PostgreSQL binaries) "
            "or --pg-url URL"
        )
    if not pull and not image_present(image):
        raise ImageMissing(
            f"image {image!r} is not present in the Docker engine and auto mode never pulls; "
            f"docker pull {image}, build one offline (docker/postgres/build.sh) and pass "
            "--pg-image, or use --pg-backend docker to pull it"
        )
    from testcontainers.community.postgres import PostgresContainer

    # Testcontainers logs every step at INFO; keep pytest's output about the benchmarks.
    logging.getLogger("testcontainers").setLevel(logging.WARNING)
    _no_reaper_unless_local()
    settings = " ".join(f"-c {k}={v}" for k, v in BENCHMARK_SETTINGS.items())
    # A random password per container, as for local clusters: its port is published.
    password = secrets.token_urlsafe(PASSWORD_BYTES)
    container = PostgresContainer(
        image, username="ormbench", password=password, dbname="ormbench", driver="psycopg"
    ).with_command(f"postgres {settings}")
    try:
        container.start()
    except BaseException as exc:
        container.stop()
        if not isinstance(exc, Exception):
            raise  # Ctrl-C or SIGTERM: the container is gone, let the interrupt go on
        raise BackendError(
            f"--pg-backend docker: could not start {image!r} ({' '.join(str(exc).split())[:200]}); "
            "check --pg-image (docker/postgres/build.sh builds one offline), "
            "or use --pg-backend local"
        ) from None
    server = PgServer(
        backend="docker",
        host=container.get_container_host_ip(),
        port=int(container.get_exposed_port(5432)),
        user="ormbench",
        password=password,
        dbname="ormbench",
        details={"container": container.get_wrapped_container().id},
        _stop=container.stop,
    )
    try:
        wait_ready(server, READY_DEADLINE)
        return inspect(server, connect_timeout)
    except BaseException:
        server.stop()
        raise
