"""The docker backend, for real: runs where a Docker engine answers, skips elsewhere.

``.ci/run`` starts a private engine and hands it to these tests only, through
``ORMBENCH_TEST_DOCKER_HOST`` and ``ORMBENCH_TEST_PG_IMAGE`` (its offline-built image), so that
the rest of the suite keeps ``auto`` on local binaries. Without them the engine is the
environment's (``DOCKER_HOST`` or the default socket) and the image ormbench's default.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator

import psycopg
import pytest

from fixtures.cli import run_benchmarks, subprocess_env
from ormbench.config import DEFAULT_PG_IMAGE, resolve
from ormbench.errors import BackendError
from ormbench.pg import provision, provision_explained
from ormbench.pg.docker import docker_unavailable_reason

ENGINE = os.environ.get("ORMBENCH_TEST_DOCKER_HOST", "")
IMAGE = os.environ.get("ORMBENCH_TEST_PG_IMAGE") or DEFAULT_PG_IMAGE
# An image no engine holds, whose pull fails at once (nothing listens on port 1).
ABSENT_IMAGE = "localhost:1/ormbench-absent:0"
# Seconds a removed container's shim and proxy processes get to exit: the engine answers the
# removal before they are gone (one was seen still there right after it on a loaded machine).
LEFTOVER_DEADLINE_S = 15.0
# Processes only a Docker engine starts for a container.
CONTAINER_PROCESSES = ("docker-proxy", "containerd-shim", "containerd-shim-runc-v2")


@contextlib.contextmanager
def _engine_env() -> Iterator[None]:
    saved = os.environ.get("DOCKER_HOST")
    if ENGINE:
        os.environ["DOCKER_HOST"] = ENGINE
    try:
        yield
    finally:
        if ENGINE:
            if saved is None:
                os.environ.pop("DOCKER_HOST", None)
            else:
                os.environ["DOCKER_HOST"] = saved


with _engine_env():
    REASON = docker_unavailable_reason()

pytestmark = [
    pytest.mark.docker,
    # An engine .ci/run started must answer: a failure there is a failure, not a skip.
    pytest.mark.skipif(
        REASON is not None and not ENGINE, reason=f"no Docker engine answers: {REASON}"
    ),
]


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch):
    """A docker client on the test engine; DOCKER_HOST points at it for this test only."""
    import docker

    if ENGINE:
        monkeypatch.setenv("DOCKER_HOST", ENGINE)
    assert REASON is None, f"ORMBENCH_TEST_DOCKER_HOST={ENGINE} does not answer: {REASON}"
    client = docker.from_env(timeout=10)
    yield client
    client.close()


def _leftovers(client) -> tuple[set[str], set[str], set[int]]:
    """Containers, volumes and container processes that exist now."""
    containers = {c.id for c in client.containers.list(all=True)}
    volumes = {v.id for v in client.volumes.list()}
    out = subprocess.run(["ps", "-eo", "pid=,comm="], capture_output=True, text=True, check=True)
    pids = {
        int(pid)
        for pid, comm in (line.split(None, 1) for line in out.stdout.splitlines() if line.strip())
        if comm.strip() in CONTAINER_PROCESSES
    }
    return containers, volumes, pids


def _new_since(client, before, deadline_s: float = LEFTOVER_DEADLINE_S):
    """What exists now and did not before, once the engine has had time to reap it."""
    end = time.monotonic() + deadline_s
    while True:
        new = tuple(now - then for now, then in zip(_leftovers(client), before, strict=True))
        if not any(new) or time.monotonic() > end:
            return new
        time.sleep(0.2)


def test_docker_run_seeds_benchmarks_and_leaves_nothing(engine, tmp_path):
    """pytest --pg-backend docker: start, seed tiny, benchmark a case, stop; no container,
    volume or container process left, the server's version saved as text."""
    before = _leftovers(engine)
    report = tmp_path / "run.json"
    out = run_benchmarks(
        "benchmarks/test_strategies.py",
        report,
        "-k",
        "canonical-p10-orm_scalars and not reused",
        "--pg-backend=docker",
        f"--pg-image={IMAGE}",
        "--dataset=tiny",
        "--round-budget=0.2",
        env=subprocess_env(**({"DOCKER_HOST": ENGINE} if ENGINE else {})),
        timeout=900,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "ormbench: backend=docker" in out.stdout
    doc = json.loads(report.read_text())
    server = doc["machine_info"]["ormbench"]["server"]
    assert server["backend"] == "docker"
    assert re.fullmatch(r"\d+\.\d+", server["version"]), server["version"]
    assert [b["extra_info"]["rows"] for b in doc["benchmarks"]] == [10]
    if not ENGINE or ENGINE.startswith("unix://"):
        # An engine on this kernel: the container's backend is proven through its pid
        # namespace, and the CPU clock reads it (ormbench/measure/cpu.py).
        (extra,) = [b["extra_info"] for b in doc["benchmarks"]]
        assert "cpu_ratio_samples" in extra, extra.get("cpu_unavailable")
    containers, volumes, processes = _new_since(engine, before)
    assert containers == set(), "container left"
    assert volumes == set(), "volume left"
    assert processes == set(), "container process left"


def test_docker_server_needs_its_password_and_is_removed(engine):
    """The container runs the benchmark settings, refuses a wrong password over TCP, and
    stop() removes it."""
    import docker

    server = provision(resolve(env={"ORMBENCH_PG_BACKEND": "docker", "ORMBENCH_PG_IMAGE": IMAGE}))
    container_id = server.details["container"]
    try:
        assert server.backend == "docker"
        assert isinstance(server.server_version, str) and server.major_version >= 13
        with psycopg.connect(server.conninfo) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
            assert conn.execute("SHOW fsync").fetchone() == ("off",)
            assert conn.execute("SHOW server_encoding").fetchone() == ("UTF8",)
        wrong = f"host={server.host} port={server.port} user={server.user} password=wrong"
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(f"{wrong} dbname={server.dbname}", connect_timeout=5)
    finally:
        server.stop()
    with pytest.raises(docker.errors.NotFound):
        engine.containers.get(container_id)


def test_auto_falls_back_to_local_when_the_image_is_absent(engine):
    """auto with an engine that lacks the image uses local binaries, says why, never pulls."""
    images = {i.id for i in engine.images.list()}
    settings = resolve(env={"ORMBENCH_PG_IMAGE": ABSENT_IMAGE})
    server, why = provision_explained(settings)
    try:
        assert server.backend == "local"
        assert why.startswith("auto: fell back to local binaries")
        assert f"holds no image {ABSENT_IMAGE}" in why
    finally:
        server.stop()
    assert {i.id for i in engine.images.list()} == images


def test_explicit_docker_backend_fails_loudly_on_an_absent_image(engine):
    """--pg-backend docker does not fall back: the failed pull is the error, naming the fix."""
    containers = {c.id for c in engine.containers.list(all=True)}
    settings = resolve(env={"ORMBENCH_PG_BACKEND": "docker", "ORMBENCH_PG_IMAGE": ABSENT_IMAGE})
    with pytest.raises(
        BackendError, match=r"could not start 'localhost:1/ormbench-absent:0'.*--pg-image"
    ):
        provision(settings)
    assert {c.id for c in engine.containers.list(all=True)} == containers
