"""Safe on a shared machine: each hole of issue 14, reproduced, and the fixed behaviour asserted.

1 open superuser, 2 stray kills, 3 silently corrupted results, 4 leaked password, 5 schema
creation race, 6 one line once, 7 --strategies-from, 8 truncated schema names, 9 kill -9 leaves
a cluster, 10 items=0. Each test asserts the message (one line, no traceback, no password), the
exit code, that nothing was lost and that nothing was left behind.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
from sqlalchemy import text

from fixtures.cli import REPO, last_line, subprocess_env
from ormbench.config import MAX_SCHEMA, derived_schema, resolve
from ormbench.data.profiles import get_profile
from ormbench.data.seed import META_DATASET, open_dataset
from ormbench.db import make_engine, prepare_schema
from ormbench.errors import ConfigError, DatasetChangedError, SchemaOwnershipError
from ormbench.measure.paired import Case
from ormbench.pg import PgServer
from ormbench.pg.connect import connect
from ormbench.pg.local import find_bindir, postmaster_of, start_local
from ormbench.pg.schema import drop_owned_schema
from ormbench.pg.url import parse_url
from ormbench.plugin.dataset import verify_page
from ormbench.query.spec import Page
from ormbench.workspace import Workspace
from tests.test_cleanup import _alive

EXAMPLES = REPO / "examples"
TIMEOUT = 5.0
AS_ROOT = os.geteuid() == 0


def _nobody() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        return None


def _psql() -> str:
    bindir, _ = find_bindir(None)
    found = (str(bindir / "psql") if bindir else None) or shutil.which("psql")
    if not found:
        pytest.skip("no psql binary on this machine")
    return found


def _one_line(text_: str, password: str | None = None) -> str:
    """The only non-empty line of ``text_``; asserts no traceback and no password."""
    assert "Traceback" not in text_
    if password:
        assert password not in text_
    lines = [line for line in text_.strip().splitlines() if line.strip()]
    assert len(lines) == 1, text_
    return lines[0]


@pytest.fixture
def own_cluster() -> Iterator[PgServer]:
    """A throwaway local cluster of this test's own (it may be stopped or killed)."""
    server = start_local(None, TIMEOUT)
    yield server
    server.stop()


@pytest.fixture
def schema_name(pg_server: PgServer) -> Iterator[str]:
    """A fresh schema name; the schema (if ormbench made it) is dropped afterwards."""
    name = f"ob_safe_{uuid.uuid4().hex[:10]}"
    yield name
    with connect(pg_server, TIMEOUT, autocommit=True) as conn:
        for schema in (name, f"{name}_tiny"):
            try:
                drop_owned_schema(conn, schema)
            except SchemaOwnershipError:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _url(server: PgServer, **changes: object) -> str:
    return server.sqlalchemy_url.set(**changes).render_as_string(hide_password=False)


# -- 1. open superuser ----------------------------------------------------------------------


def _try_as(user: pwd.struct_passwd | None, *args: str) -> subprocess.CompletedProcess[str]:
    """psql ARGS, as ``user`` when given (root only), with no password from anywhere."""
    env = {"PATH": "/usr/bin:/bin", "PGCONNECT_TIMEOUT": "5", "HOME": "/tmp"}
    prefix = [str(shutil.which("runuser")), "-u", user.pw_name, "--"] if user else []
    return subprocess.run(
        [*prefix, _psql(), "-X", "-w", "-At", *args, "-c", "SELECT current_user"],
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
        timeout=30,
    )


def _assert_locked(server: PgServer, datadir: Path) -> None:
    """Neither TCP nor the unix socket lets anyone in without the password."""
    others = [None]
    if AS_ROOT and _nobody() is not None and shutil.which("runuser"):
        others.append(_nobody())
    for user in others:
        tcp = _try_as(user, "-h", server.host, "-p", str(server.port), "-U", "ormbench", "postgres")
        assert tcp.returncode != 0 and tcp.stdout == "", tcp
        assert "password" in tcp.stderr, tcp.stderr
        sock = _try_as(
            user, "-h", str(datadir), "-p", str(server.port), "-U", "ormbench", "postgres"
        )
        assert sock.returncode != 0 and sock.stdout == "", sock
    mode = stat.S_IMODE(datadir.stat().st_mode)
    assert mode & 0o077 == 0, oct(mode)  # the socket's directory: its owner's alone
    assert server.password
    for path in datadir.parent.rglob("*"):  # no password in any file others may read
        if path.is_file() and path.stat().st_mode & 0o004:
            assert server.password.encode() not in path.read_bytes(), path


def test_local_cluster_refuses_connections_without_its_password(own_cluster: PgServer):
    """Case 1: a local cluster accepts no connection without its random password, over TCP or
    its socket, from another OS user (nobody) or any other; no file others read holds it."""
    root = Path(own_cluster.details["root"])
    assert not (root / "initdb.pw").exists()
    _assert_locked(own_cluster, root / "data")
    with psycopg.connect(own_cluster.conninfo) as conn:  # the password opens it
        assert conn.execute("SELECT current_user").fetchone() == ("ormbench",)


def test_kept_cluster_refuses_connections_and_its_state_is_private(run_cli, tmp_path):
    """Case 1: a kept cluster refuses other users too; its state file (holding the URL) is
    0600 in a 0700 directory; up prints no password on stderr; down leaves nothing."""
    state_dir = tmp_path / "state"
    env = subprocess_env(ORMBENCH_STATE_DIR=str(state_dir), ORMBENCH_PG_BACKEND="local")
    up = run_cli("up", env=env)
    assert up.returncode == 0, up.stderr
    url = re.fullmatch(r"export ORMBENCH_PG_URL='(.+)'\n", up.stdout).group(1)
    state_file = state_dir / "kept-server.json"
    state = json.loads(state_file.read_text())
    root = Path(state["root"])
    try:
        assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
        assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
        server = parse_url(url)
        assert server.password and server.password not in up.stderr and "***" in up.stderr
        _assert_locked(server, root / "data")
    finally:
        down = run_cli("down", env=env)
    assert down.returncode == 0 and server.password not in down.stderr
    assert not _alive(int(state["pid"])) and not root.exists() and not state_file.exists()


# -- 2. stray kills ---------------------------------------------------------------------------


@pytest.fixture
def bystander() -> Iterator[subprocess.Popen[bytes]]:
    """An innocent process that a stale pid file names."""
    proc = subprocess.Popen(["sleep", "300"])
    yield proc
    proc.kill()
    proc.wait()


def _fake_cluster(tmp_path: Path, pid: str) -> Path:
    root = tmp_path / "ormbench-pg-stale"
    (root / "data").mkdir(parents=True)
    (root / "data" / "postmaster.pid").write_text(f"{pid}\n{root / 'data'}\n")
    return root


def test_postmaster_proof(own_cluster: PgServer, tmp_path, bystander):
    """Case 2: only a live postgres started on that very data directory counts as its
    postmaster; a stale pid file naming another process, pid 0 or a negative pid proves nothing."""
    datadir = Path(own_cluster.details["root"]) / "data"
    assert postmaster_of(datadir) == int(own_cluster.details["pid"])
    for pid in (str(bystander.pid), str(os.getpid()), "0", "-1", "junk"):
        assert postmaster_of(_fake_cluster(tmp_path / pid, pid) / "data") is None


@pytest.mark.parametrize("pid", ["bystander", "missing", "0"])
def test_down_with_a_stale_state_file_signals_nobody(run_cli, tmp_path, bystander, pid):
    """Case 2: down with a state file whose pid is another process, absent or 0 signals no
    process (not the bystander, not its own process group), says so in one line, exits 0."""
    named = str(bystander.pid) if pid == "bystander" else pid
    root = _fake_cluster(tmp_path, named)
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    state = {"backend": "local", "url": "postgresql+psycopg://ormbench:pw1234@127.0.0.1:1/x"}
    state |= {"root": str(root)} | ({} if pid == "missing" else {"pid": named})
    (state_dir / "kept-server.json").write_text(json.dumps(state))
    down = run_cli("down", env=subprocess_env(ORMBENCH_STATE_DIR=str(state_dir)))
    assert down.returncode == 0, down.stderr
    assert _one_line(down.stderr, "pw1234").startswith("ormbench: removed kept local server")
    assert bystander.poll() is None  # alive: never signalled
    assert not root.exists() and not (state_dir / "kept-server.json").exists()


def test_up_with_a_stale_state_file_spares_the_process_it_names(run_cli, tmp_path, bystander):
    """Case 2: up over a stale state file (its pid now another process) cleans up without
    signalling that process, then starts a fresh kept server; down removes it."""
    root = _fake_cluster(tmp_path, str(bystander.pid))
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    stale = {"backend": "local", "url": "postgresql+psycopg://ormbench:pw1234@127.0.0.1:1/x"}
    stale |= {"root": str(root), "pid": str(bystander.pid)}
    (state_dir / "kept-server.json").write_text(json.dumps(stale))
    env = subprocess_env(ORMBENCH_STATE_DIR=str(state_dir), ORMBENCH_PG_BACKEND="local")
    up = run_cli("up", env=env)
    try:
        assert up.returncode == 0, up.stderr
        assert bystander.poll() is None and not root.exists()
        assert "pw1234" not in up.stderr + up.stdout
    finally:
        down = run_cli("down", env=env)
    assert down.returncode == 0 and not (state_dir / "kept-server.json").exists()


# -- 3. silently corrupted results --------------------------------------------------------------


def test_reseed_waits_for_a_reading_run_or_refuses(pg_server: PgServer, schema_name, run_cli):
    """Case 3: while a run holds its dataset, a reseed with other knobs refuses with --no-wait
    (exit 6, one line) or waits, saying so, and the data stays the run's until it ends."""
    prepare_schema(pg_server, schema_name, TIMEOUT)
    engine = make_engine(pg_server, schema_name)
    tiny = get_profile("tiny")
    info, reader = open_dataset(engine, tiny)
    args = ["seed", f"--pg-url={pg_server.url}", f"--pg-schema={schema_name}", "--dataset=tiny"]
    waiting = None
    try:
        refused = run_cli(*args, "--dataset-set=seed=99", "--no-wait")
        assert refused.returncode == 6
        line = _one_line(refused.stderr, pg_server.password)
        assert f"the dataset in schema '{schema_name}' is in use" in line and "--no-wait" in line
        waiting = subprocess.Popen(
            [sys.executable, "-m", "ormbench", *args, "--dataset-set=seed=99"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=subprocess_env(),
        )
        said = waiting.stderr.readline()
        assert "waiting for them to finish before seeding" in said, said
        time.sleep(1.0)
        assert waiting.poll() is None
        reader.check()  # still the run's dataset
        assert reader.current_hash() == info.fingerprint_hash
    finally:
        reader.close()
        if waiting is not None:
            out, err = waiting.communicate(timeout=120)
    engine.dispose()
    assert waiting.returncode == 0, err
    assert "seeded dataset 'tiny'" in out


def test_a_reseed_behind_the_lock_is_caught_before_recording(pg_server: PgServer, schema_name):
    """Case 3: a dataset changed without the lock (an older ormbench, a hand edit) fails the
    fingerprint check that runs before every benchmark records."""
    prepare_schema(pg_server, schema_name, TIMEOUT)
    engine = make_engine(pg_server, schema_name)
    info, reader = open_dataset(engine, get_profile("tiny"))
    try:
        reader.check()
        with engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE ormbench_meta SET value = jsonb_set(value, '{hash}', '\"other\"') "
                    "WHERE key = :k"
                ),
                {"k": META_DATASET},
            )
        with pytest.raises(DatasetChangedError, match=f"{info.fingerprint_hash} -> other"):
            reader.check()
    finally:
        reader.close()
        engine.dispose()


def test_an_empty_page_where_the_data_has_rows_fails_loudly(seeded: Callable[[str], Workspace]):
    """Case 3: a benchmark whose page came back empty although its request matches rows on
    the dataset fails (one line) and is kept out of the saved run; a truly empty page passes."""
    tiny = seeded("tiny")
    bench = SimpleNamespace(has_error=False)
    empty = Page(columns=("id",), rows=())
    with pytest.raises(pytest.fail.Exception, match="the page came back empty") as info:
        verify_page(tiny, bench, Case("canonical", 10, "orm_scalars"), empty)
    assert bench.has_error and "\n" not in str(info.value)
    deep = SimpleNamespace(has_error=False)  # page 50 of tiny: nothing there to return
    verify_page(tiny, deep, Case("deep_offset", 100, "orm_scalars"), empty)
    assert not deep.has_error


# -- 4. leaked password -----------------------------------------------------------------------

LEAKY = """
import psycopg, pytest
from sqlalchemy import text

def test_fails_connecting(pg_server):
    psycopg.connect(pg_server.conninfo + " dbname=no_such_db")

def test_fails_with_server_in_frame(pg_server, pg_engine):
    with pg_engine.connect() as conn:
        conn.execute(text("SELECT no_such_column"))
"""


def test_no_password_in_failure_reports(pg_pytester, pg_server: PgServer, schema_name):
    """Case 4: failures whose frames hold the server, its conninfo and its URL print no
    password, with pytest's long tracebacks and local variables shown."""
    pg_pytester.makepyfile(test_leaky=LEAKY)
    result = pg_pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--tb=long", "-l", f"--pg-url={pg_server.url}",
        f"--pg-schema={schema_name}",
    )  # fmt: skip
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, output
    assert "no_such_db" in output and "no_such_column" in output  # the failures are shown
    assert pg_server.password not in output
    assert "***" in output


# -- 5. schema creation race ------------------------------------------------------------------


def test_concurrent_schema_creation(pg_server: PgServer, schema_name):
    """Case 5: 8 threads creating one schema at once: one creates it (marker included), the
    others find it ormbench's; no error."""
    barrier = threading.Barrier(8)
    results: list[object] = []

    def create() -> None:
        barrier.wait()
        try:
            results.append(prepare_schema(pg_server, schema_name, TIMEOUT))
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(map(repr, results)) == ["False"] * 7 + ["True"], results


# -- 6. one line, once ------------------------------------------------------------------------

THREE_TESTS = """
import pytest

@pytest.mark.parametrize("i", range(3))
def test_needs(pg_engine, {extra}i):
    pass
"""


def _session(pytester: pytest.Pytester, *args: str, extra: str = "") -> pytest.RunResult:
    pytester.makepyfile(test_three=THREE_TESTS.format(extra=extra))
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


def _ended_once(result: pytest.RunResult, message: str, password: str | None) -> str:
    """The session ended with exactly one line carrying ``message``; no traceback, no secret."""
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output and "INTERNALERROR" not in output, output
    if password:
        assert password not in output
    lines = [line for line in output.splitlines() if message in line]
    assert len(lines) == 1, output
    return lines[0]


def test_foreign_schema_ends_the_session_once(pg_pytester, pg_server: PgServer, schema_name):
    """Case 6: a schema ormbench did not create ends the session once, exit 4, its contents
    untouched."""
    with psycopg.connect(pg_server.conninfo, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema_name}")
        conn.execute(f"CREATE TABLE {schema_name}.precious AS SELECT 42 AS answer")
    result = _session(pg_pytester, f"--pg-url={pg_server.url}", f"--pg-schema={schema_name}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    _ended_once(result, "exists but was not created by ormbench", pg_server.password)
    with psycopg.connect(pg_server.conninfo) as conn:
        assert conn.execute(f"SELECT answer FROM {schema_name}.precious").fetchone() == (42,)


def test_unknown_dataset_ends_the_session_once(pg_pytester, pg_server: PgServer, schema_name):
    """Case 6: --dataset nosuch ends the session once with exit 4, before anything is seeded."""
    result = _session(
        pg_pytester, f"--pg-url={pg_server.url}", f"--pg-schema={schema_name}",
        "--dataset=nosuch", extra="dataset_profile, ",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    _ended_once(result, "nosuch", pg_server.password)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--pg-schema=pg_foo", "reserved by PostgreSQL"),
        ("--pg-schema=" + "s" * 63, "so that the schemas ormbench derives from it"),
        ("--pg-connect-timeout=nan", "must be a finite number of seconds"),
        ("--pg-connect-timeout=inf", "must be a finite number of seconds"),
        ("--dataset-set=items=0", "items=0 must be >= 1"),
    ],
)
def test_bad_values_end_the_session_once(pg_pytester, pg_server: PgServer, option, message):
    """Cases 6, 8, 10: a reserved or too long schema name, a timeout of nan or inf, items=0:
    exit 4, one line, no traceback or INTERNALERROR."""
    result = _session(pg_pytester, f"--pg-url={pg_server.url}", option, extra="dataset_profile, ")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    _ended_once(result, message, pg_server.password)


@pytest.fixture
def login_role(pg_server: PgServer) -> Iterator[PgServer]:
    """A login role with a password and no privilege beyond PUBLIC's; dropped afterwards."""
    name = f"ob_user_{uuid.uuid4().hex[:8]}"
    password = uuid.uuid4().hex
    with psycopg.connect(pg_server.conninfo, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
    yield PgServer("url", pg_server.host, pg_server.port, name, password, pg_server.dbname)
    with psycopg.connect(pg_server.conninfo, autocommit=True) as conn:
        conn.execute(f"DROP OWNED BY {name}")
        conn.execute(f"DROP ROLE {name}")


def test_user_without_create_is_told_in_one_line(pg_pytester, login_role, schema_name):
    """Case 6: a user who may not create schemas gets one line naming the GRANT, exit 4."""
    result = _session(pg_pytester, f"--pg-url={_url(login_role)}", f"--pg-schema={schema_name}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    line = _ended_once(result, "may not create schema", login_role.password)
    assert f"GRANT CREATE ON DATABASE {login_role.dbname} TO {login_role.user}" in line


def test_user_without_usage_is_told_in_one_line(
    pg_pytester, pg_server: PgServer, login_role, schema_name
):
    """Case 6: a user without USAGE on ormbench's existing schema is told that, not that the
    schema does not exist; exit 4."""
    prepare_schema(pg_server, schema_name, TIMEOUT)
    result = _session(pg_pytester, f"--pg-url={_url(login_role)}", f"--pg-schema={schema_name}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    line = _ended_once(result, "lacks USAGE and CREATE", login_role.password)
    assert f"GRANT USAGE, CREATE ON SCHEMA {schema_name} TO {login_role.user}" in line


KILLED = """
import os, signal, time
import pytest
from sqlalchemy import text

def test_0_kills_the_server(pg_server, pg_engine):
    with open("details.json", "w") as f:
        import json; json.dump(pg_server.details, f)
    os.kill(int(pg_server.details["pid"]), signal.SIGQUIT)  # immediate shutdown
    time.sleep(1)

@pytest.mark.parametrize("i", range(20))
def test_1_queries(pg_engine, i):
    with pg_engine.connect() as conn:
        conn.execute(text("SELECT 1"))
"""


def test_server_killed_mid_run_ends_the_session_in_one_line(pg_pytester):
    """Case 6: a local server killed mid-run ends the session once, saying it died (exit 3),
    instead of a traceback per test; its directory is removed."""
    pg_pytester.makepyfile(test_killed=KILLED)
    result = pg_pytester.runpytest_subprocess("-p", "no:cacheprovider", "--pg-backend=local")
    assert result.ret == 3, result.stdout.str()
    line = _ended_once(result, "died mid-run", None)
    assert "no longer answers" in line
    assert len(result.stdout.lines) < 40, result.stdout.str()
    details = json.loads((pg_pytester.path / "details.json").read_text())
    assert not Path(details["root"]).exists()


def test_server_stopped_mid_seed_is_one_line(own_cluster: PgServer, run_cli):
    """Case 6: the server stopped while ormbench seed COPYs: one line saying the connection
    was lost, exit 3, no chained traceback."""
    child = subprocess.Popen(
        [sys.executable, "-m", "ormbench", "seed", f"--pg-url={own_cluster.url}", "--dataset=ci"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
    )
    try:
        deadline = time.monotonic() + 60
        with psycopg.connect(own_cluster.conninfo, autocommit=True) as conn:
            while time.monotonic() < deadline and child.poll() is None:
                copying = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY content_items%%'"
                ).fetchone()[0]
                if copying:
                    break
                time.sleep(0.02)
            else:
                pytest.fail("the seed never reached its COPY")
        own_cluster.stop()
        _out, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 3, err
    # The seed's progress lines (plain lines: stderr is not a terminal) come before the error.
    progress = re.compile(r"^seeding \w+: ")
    error = "\n".join(line for line in err.splitlines() if not progress.match(line))
    line = _one_line(error, own_cluster.password)
    assert line.startswith("ormbench: lost the connection to PostgreSQL mid-command")


# -- 7. --strategies-from -----------------------------------------------------------------------


def test_commands_honour_strategies_from(run_cli, tiny_cli_args):
    """Case 7: page and compare find a user strategy given by --strategies-from; a module
    that does not exist is one line and exit 2."""
    env = subprocess_env(PYTHONPATH=f"{REPO}{os.pathsep}{EXAMPLES}")
    mine = ["--strategies-from=my_strategy"]
    page = run_cli("page", *tiny_cli_args, *mine, "--strategy=orm_bundle", env=env)
    assert page.returncode == 0, page.stderr
    floor = run_cli("page", *tiny_cli_args, "--strategy=dbapi_fetchall", env=env)
    assert page.stdout == floor.stdout and page.stdout.strip()
    compare = run_cli(
        "compare", *tiny_cli_args, *mine, "--strategies=orm_bundle", "--rounds=6", "--settle-ms=0",
        env=env,
    )  # fmt: skip
    assert compare.returncode == 0, compare.stderr
    assert "orm_bundle" in compare.stdout
    for command in ("page", "compare"):
        missing = run_cli(command, *tiny_cli_args, "--strategies-from=no_such_module", env=env)
        assert missing.returncode == 2
        assert "could not import strategy module 'no_such_module'" in _one_line(missing.stderr)


# -- 8. truncated schema names ----------------------------------------------------------------


def test_schema_names_never_truncate_onto_another():
    """Case 8: the longest --pg-schema leaves room for every derived name; a longer one, and
    a derived name over 63 bytes, are refused in one line."""
    longest = "s" * MAX_SCHEMA
    assert resolve(env={"ORMBENCH_PG_SCHEMA": longest}).pg_schema == longest
    assert len(derived_schema(longest, "production_unindexed")) <= 63
    with pytest.raises(ConfigError, match="choose a shorter one"):
        resolve(env={"ORMBENCH_PG_SCHEMA": longest + "s"})
    with pytest.raises(ConfigError, match="PostgreSQL would truncate it"):
        derived_schema("s" * 50, "canonical_unindexed")


def test_cli_refuses_a_63_character_schema(run_cli):
    """Case 8: ormbench pathologies with a 63-character schema is refused before it connects."""
    out = run_cli(
        "pathologies", "--pg-url=postgresql://u:pw1234@127.0.0.1:1/x", "--pg-schema=" + "s" * 63
    )
    assert out.returncode == 2
    assert "choose a shorter one" in _one_line(out.stderr, "pw1234")


# -- 9. kill -9 of a run ------------------------------------------------------------------------

HOLD = """
import json, os, time

def test_hold(pg_server):
    with open("details.json.tmp", "w") as f:
        json.dump(pg_server.details, f)
    os.rename("details.json.tmp", "details.json")
    time.sleep(300)
"""


def _killed_run(tmp_path: Path, state_dir: Path) -> dict[str, str]:
    """A pytest run on a local cluster, killed with SIGKILL: its cluster is left running."""
    (tmp_path / "test_hold.py").write_text(HOLD)
    env = subprocess_env(ORMBENCH_PG_BACKEND="local", ORMBENCH_STATE_DIR=str(state_dir))
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_hold.py"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    marker = tmp_path / "details.json"
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the run never started"
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    details = json.loads(marker.read_text())
    assert _alive(int(details["pid"])) and Path(details["root"]).is_dir()  # the hole
    return details


def test_down_orphans_reaps_the_cluster_of_a_killed_run(run_cli, tmp_path):
    """Case 9: kill -9 of a run leaves its cluster; ormbench down --orphans stops it and
    removes its directory, and leaves a live run's cluster alone."""
    state_dir = tmp_path / "state"
    details = _killed_run(tmp_path, state_dir)
    env = subprocess_env(ORMBENCH_STATE_DIR=str(state_dir))
    live = start_local(None, TIMEOUT)  # registered in this test's default state dir, not there
    try:
        down = run_cli("down", "--orphans", env=env)
        assert down.returncode == 0, down.stderr
        assert "1 orphaned cluster(s) reaped" in last_line(down.stderr)
        assert not _alive(int(details["pid"])) and not Path(details["root"]).exists()
        assert not list((state_dir / "clusters").iterdir())
        assert postmaster_of(Path(live.details["root"]) / "data") == int(live.details["pid"])
    finally:
        live.stop()


def test_next_run_reaps_the_cluster_of_a_killed_run(tmp_path):
    """Case 9: the next run that starts a local cluster reaps what a killed run left."""
    state_dir = tmp_path / "state"
    details = _killed_run(tmp_path, state_dir)
    script = "from ormbench.pg.local import start_local; s = start_local(None, 5); s.stop()"
    env = subprocess_env(ORMBENCH_STATE_DIR=str(state_dir))
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert not _alive(int(details["pid"])) and not Path(details["root"]).exists()
    assert not list((state_dir / "clusters").iterdir())


# -- 10. knob values ----------------------------------------------------------------------------


@pytest.mark.parametrize("knob", ["items=0", "auto=0"])
def test_cli_refuses_an_empty_partition(run_cli, knob):
    """Case 10: --dataset-set items=0 (or auto=0) is refused in one line, exit 2."""
    out = run_cli("seed", "--pg-url=postgresql://u:pw1234@127.0.0.1:1/x", f"--dataset-set={knob}")
    assert out.returncode == 2
    assert f"{knob} must be >= 1" in _one_line(out.stderr, "pw1234")


def test_reader_lock_is_released_with_its_run(pg_server: PgServer, schema_name):
    """Case 3 (nothing left behind): a closed reader holds no lock: a reseed that refuses to
    wait goes ahead."""
    prepare_schema(pg_server, schema_name, TIMEOUT)
    engine = make_engine(pg_server, schema_name)
    _info, reader = open_dataset(engine, get_profile("tiny"))
    reader.close()
    try:
        again, second = open_dataset(engine, get_profile("tiny", {"seed": "3"}), wait=False)
        second.close()
    finally:
        engine.dispose()
    assert not again.reused
