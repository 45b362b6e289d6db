"""The docker backend, for real: runs where a Docker engine answers, skips elsewhere."""

from __future__ import annotations

import psycopg
import pytest

from ormbench.config import DEFAULT_PG_IMAGE, resolve
from ormbench.pg import provision
from ormbench.pg.docker import docker_unavailable_reason

REASON = docker_unavailable_reason()
pytestmark = [
    pytest.mark.docker,
    pytest.mark.skipif(REASON is not None, reason=f"no Docker engine answers: {REASON}"),
]


def test_docker_backend_starts_and_removes_container():
    """Testcontainers starts the image with the benchmark settings; stop removes the container."""
    import docker

    server = provision(resolve(env={"ORMBENCH_PG_BACKEND": "docker"}))
    container_id = server.details["container"]
    try:
        assert server.backend == "docker"
        assert server.major_version == int(DEFAULT_PG_IMAGE.split(":")[1])
        with psycopg.connect(server.conninfo) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
            assert conn.execute("SHOW fsync").fetchone() == ("off",)
    finally:
        server.stop()
    with pytest.raises(docker.errors.NotFound):
        docker.from_env().containers.get(container_id)
