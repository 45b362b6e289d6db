"""The backends: choice, a real local cluster, a running server by URL, and every bad input."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
import sysconfig
import uuid
from pathlib import Path

import psycopg
import pytest

from fixtures.cli import REPO, last_line, subprocess_env
from ormbench.config import resolve
from ormbench.errors import BackendError
from ormbench.pg import choose_backend
from ormbench.pg.docker import docker_unavailable_reason
from ormbench.pg.redact import redact
from ormbench.pg.schema import OWNER_MARKER
from ormbench.pg.server import PgServer, psql_url

NEEDS_SERVER = """
def test_uses_server(pg_engine):
    pass
"""


def test_auto_prefers_url(tmp_path):
    """auto picks url whenever a URL is given, without probing Docker or binaries."""
    s = resolve(env={"ORMBENCH_PG_URL": "postgresql://x@h/db"})
    assert choose_backend(s)[0] == "url"


def test_auto_without_anything_names_three_fixes(tmp_path):
    """With no URL, no Docker and no binaries, auto fails naming all three ways out."""
    if docker_unavailable_reason() is None:
        pytest.skip("a Docker engine answers here, so auto would pick docker")
    s = resolve(env={"ORMBENCH_PG_BINDIR": str(tmp_path)})
    with pytest.raises(BackendError) as info:
        choose_backend(s)
    message = str(info.value)
    for fix in ("--pg-url", "start Docker", "--pg-bindir"):
        assert fix in message


def test_local_server_answers(pg_server: PgServer):
    """The session's server answers as the superuser it reports, at the version it reports."""
    with psycopg.connect(pg_server.conninfo) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
    assert version.split()[0] == pg_server.server_version
    assert pg_server.sqlalchemy_url.drivername == "postgresql+psycopg"
    assert set(pg_server.settings) >= {"jit", "plan_cache_mode", "shared_buffers", "work_mem"}


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the backend as another user")
def test_local_backend_as_normal_user():
    """A normal (non-root) user starts and removes a local cluster of their own."""
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("no unprivileged 'postgres' OS user on this machine")
    script = (
        "import glob, os; from ormbench.config import resolve; from ormbench.pg import provision;"
        "s = provision(resolve(env={'ORMBENCH_PG_BACKEND': 'local'}));"
        "import psycopg; c = psycopg.connect(s.conninfo);"
        "print('USER', os.getuid(), c.execute('select 1').fetchone()[0]); c.close();"
        "root = s.details['root']; s.stop(); print('GONE', not os.path.exists(root))"
    )
    python = _python_for_others()
    if python is None or not _reachable_by_others(REPO):
        pytest.skip("no Python interpreter and checkout that another OS user can reach")
    env = subprocess_env(HOME="/tmp")
    # The venv's interpreter may live under a root-only home: run a world-readable interpreter
    # of the same version on the venv's packages instead.
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), sysconfig.get_paths()["purelib"]])
    out = subprocess.run(
        [python, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd="/tmp",
        user=user.pw_uid,
        group=user.pw_gid,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert f"USER {user.pw_uid} 1" in out.stdout
    assert "GONE True" in out.stdout


def _reachable_by_others(path: Path) -> bool:
    path = path.resolve()
    return all(os.stat(p).st_mode & 0o001 for p in (path, *path.parents))


def _python_for_others() -> str | None:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (os.path.realpath(sys.executable), f"/usr/bin/{version}"):
        if Path(candidate).name == version and _reachable_by_others(Path(candidate)):
            return candidate
    return None


def _run_with(pg_pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pg_pytester.makepyfile(test_needs=NEEDS_SERVER)
    return pg_pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


def _error_line(result: pytest.RunResult) -> str:
    """The one line the session ended with (ormbench.guard, or pytest's usage error)."""
    lines = result.outlines + result.errlines
    errors = [line for line in lines if line.startswith(("ERROR:", "! _pytest.outcomes.Exit:"))]
    assert len(errors) == 1, lines  # one line, no traceback
    assert "Traceback" not in "\n".join(lines)
    return errors[0]


def test_unparseable_url(pg_pytester):
    """An unparseable URL is a usage error naming the expected form."""
    result = _run_with(pg_pytester, "--pg-url=http//nowhere")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "could not parse --pg-url 'http//nowhere'" in _error_line(result)


def test_unreachable_port_fails_within_timeout(pg_pytester):
    """A closed port fails within the connect timeout, naming the address and the fixes."""
    result = _run_with(
        pg_pytester, "--pg-url=postgresql://u@127.0.0.1:1/db", "--pg-connect-timeout=2"
    )
    line = _error_line(result)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "cannot reach PostgreSQL at 127.0.0.1:1 within 2s" in line
    assert "--pg-connect-timeout" in line


def test_wrong_password(pg_pytester, pg_server: PgServer):
    """A wrong password is named as such, with where to fix it."""
    role = f"ob_pw_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server.conninfo, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'right'")
    try:
        # Not a word of the message: the guard masks the password wherever it appears.
        url = f"postgresql://{role}:Bad0pw{uuid.uuid4().hex[:6]}@{pg_server.host}:{pg_server.port}/postgres"
        result = _run_with(pg_pytester, f"--pg-url={url}")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        assert f"wrong password for user '{role}'" in _error_line(result)
    finally:
        with psycopg.connect(pg_server.conninfo, autocommit=True) as conn:
            conn.execute(f"DROP ROLE {role}")


def test_missing_database(pg_pytester, pg_server: PgServer):
    """A database that does not exist is named, with the createdb fix."""
    url = pg_server.sqlalchemy_url.set(database="no_such_db").render_as_string(False)
    result = _run_with(pg_pytester, f"--pg-url={url}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "database 'no_such_db' does not exist" in _error_line(result)


def test_docker_backend_without_engine(pg_pytester):
    """--pg-backend docker with no engine says so and names the other backends."""
    if docker_unavailable_reason() is None:
        pytest.skip("a Docker engine answers here")
    result = _run_with(pg_pytester, "--pg-backend=docker")
    line = _error_line(result)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "no Docker engine answered" in line and "--pg-backend local" in line


def test_local_backend_with_empty_bindir(pg_pytester, tmp_path):
    """--pg-bindir without server binaries lists where it looked and the fix."""
    result = _run_with(pg_pytester, "--pg-backend=local", f"--pg-bindir={tmp_path}")
    line = _error_line(result)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"looked in: --pg-bindir {tmp_path}" in line and "apt-get install postgresql" in line


def test_unknown_backend(pg_pytester):
    """An unknown backend name is rejected at startup with the valid choices."""
    result = _run_with(pg_pytester, "--pg-backend=podman")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "unknown value 'podman' for --pg-backend; choose one of: auto, url, docker, local" in (
        _error_line(result)
    )


def test_foreign_schema_is_refused_and_kept(pg_pytester, pg_server: PgServer):
    """A schema ormbench did not create is refused, and its contents stay untouched."""
    schema = f"user_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server.conninfo, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"CREATE TABLE {schema}.precious AS SELECT 42 AS answer")
    try:
        result = _run_with(pg_pytester, f"--pg-url={pg_server.url}", f"--pg-schema={schema}")
        assert result.ret != 0
        assert f"schema '{schema}' exists but was not created by ormbench" in result.stdout.str()
        with psycopg.connect(pg_server.conninfo) as conn:
            assert conn.execute(f"SELECT answer FROM {schema}.precious").fetchone() == (42,)
            comment = conn.execute(
                "SELECT obj_description(%s::regnamespace, 'pg_namespace')", [schema]
            ).fetchone()[0]
        assert comment is None
    finally:
        with psycopg.connect(pg_server.conninfo, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def test_owned_schema_is_marked(pg_engine, pg_server: PgServer, ormbench_settings):
    """The schema ormbench works in carries its ownership marker."""
    with psycopg.connect(pg_server.conninfo) as conn:
        comment = conn.execute(
            "SELECT obj_description(%s::regnamespace, 'pg_namespace')",
            [ormbench_settings.pg_schema],
        ).fetchone()[0]
    assert comment.startswith(OWNER_MARKER)


def test_cli_bad_input_is_one_line(run_cli):
    """The ormbench command reports bad input in one line with a non-zero exit code."""
    out = run_cli("up", "--pg-backend", "nope")
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "ormbench: unknown value 'nope' for --pg-backend; choose one of: auto, url, docker, local"
    )
    assert last_line(out.stderr) == out.stderr.strip()


def test_passwords_are_masked_everywhere_they_are_printed():
    """A server's password is in no repr, and redact() masks it raw and URL-encoded."""
    server = PgServer("url", "db.example", 5432, "me", "p@ss zq'x/1", "app")
    shown = f"{server!r} {server.safe_url} {redact(server.url)} {redact(server.conninfo)}"
    assert "p@ss" not in shown and "p%40ss" not in shown and "zq" not in shown
    assert redact(psql_url(server)).count("***") == 1


def test_no_password_supplied_names_the_fix(pg_pytester, pg_server: PgServer):
    """A URL without the password a server asks for says so and where to put it."""
    url = f"postgresql://{pg_server.user}@{pg_server.host}:{pg_server.port}/{pg_server.dbname}"
    result = _run_with(pg_pytester, f"--pg-url={url}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "wants a password for user 'ormbench' and none was given" in _error_line(result)
