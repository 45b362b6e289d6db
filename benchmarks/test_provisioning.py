"""How long until a server answers SELECT 1: a fresh local cluster, a fresh container, and a
kept server reused.

Opt-in: ``pytest benchmarks/test_provisioning.py -m infra --benchmark-only`` (the container's
image: ``--pg-image``, e.g. the tag ``docker/postgres/build.sh`` prints).
"""

from __future__ import annotations

import pytest

from ormbench.pg.docker import docker_unavailable_reason, start_docker
from ormbench.pg.local import start_local
from ormbench.pg.server import PgServer
from ormbench.pg.url import start_url

pytestmark = pytest.mark.infra


def test_local_cold_start(benchmark, ormbench_settings):
    """initdb, start, and the first answered SELECT 1 of a throwaway local cluster."""
    started: list[PgServer] = []

    def stop_previous() -> None:
        while started:
            started.pop().stop()

    def start() -> None:
        started.append(start_local(ormbench_settings.pg_bindir, 5.0))

    benchmark.group = "provisioning"
    try:
        benchmark.pedantic(start, setup=stop_previous, rounds=5, iterations=1)
    finally:
        stop_previous()


def test_docker_cold_start(benchmark, ormbench_settings):
    """Container start (image already present) to the first answered SELECT 1."""
    reason = docker_unavailable_reason()
    if reason is not None:
        pytest.skip(f"no Docker engine answers: {reason}")
    started: list[PgServer] = []

    def stop_previous() -> None:
        while started:
            started.pop().stop()

    def start() -> None:
        started.append(start_docker(ormbench_settings.pg_image, 5.0, pull=False))

    benchmark.group = "provisioning"
    try:
        benchmark.pedantic(start, setup=stop_previous, rounds=3, iterations=1)
    finally:
        stop_previous()


def test_kept_server_reuse(benchmark, pg_server: PgServer):
    """Reaching a server that already runs (``ormbench up``): parse the URL, connect, inspect."""
    benchmark.group = "provisioning"
    benchmark.pedantic(start_url, args=(pg_server.url, 5.0), rounds=20, iterations=1)
