"""Backend ``local``: a throwaway cluster from local PostgreSQL server binaries.

``initdb --no-sync`` into a fresh temp dir, a free port on 127.0.0.1 plus a socket in the data
dir, benchmark settings, readiness by a real query. As root the server runs as an unprivileged
OS user (``postgres``), because initdb and postgres refuse to run as root. The cluster is
stopped and its directory removed at the end, after a failure, on Ctrl-C and on SIGTERM
(``stop_all`` runs at exit; the plugin and the CLI turn SIGTERM into an orderly exit).
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ormbench.errors import BackendError
from ormbench.pg.connect import inspect, wait_ready
from ormbench.pg.server import PgServer

# Settings for a throwaway benchmark cluster. Durability is off because the cluster is thrown
# away; planner settings (jit, random_page_cost, work_mem, plan_cache_mode) stay at PostgreSQL's
# defaults so that plans are those of a stock production server.
BENCHMARK_SETTINGS: dict[str, str] = {
    "fsync": "off",  # no flush to disk: a crash loses a cluster we delete anyway
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",  # COPY into tables created in the same transaction skips WAL
    "max_wal_senders": "0",  # required by wal_level=minimal
    "autovacuum": "off",  # seeding runs VACUUM ANALYZE itself; a wakeup mid-benchmark is noise
    "shared_buffers": "512MB",  # the production profile's hot set fits in memory
    "max_connections": "40",
}
# Unprivileged OS user the server runs as when ormbench runs as root.
ROOT_RUN_AS = "postgres"
# Seconds a fresh cluster gets to answer SELECT 1.
READY_DEADLINE = 30.0
# Seconds a fast shutdown may take before the server is killed.
STOP_TIMEOUT = 10.0
# Prefix of every temp dir ormbench creates; the cleanup test looks for it.
TEMP_PREFIX = "ormbench-pg-"
SUPERUSER = "ormbench"
_REQUIRED = ("initdb", "postgres")
PG_HBA = f"""\
local all {SUPERUSER} trust
host  all {SUPERUSER} 127.0.0.1/32 trust
local all all scram-sha-256
host  all all 127.0.0.1/32 scram-sha-256
"""

_running: set[LocalCluster] = set()


def find_bindir(explicit: str | None) -> tuple[Path | None, list[str]]:
    """Find a directory holding initdb and postgres; return it and every place looked at.

    Order: --pg-bindir / ORMBENCH_PG_BINDIR, ``pg_config --bindir``, PATH, the newest
    ``/usr/lib/postgresql/*/bin``.
    """
    looked: list[str] = []
    if explicit:
        looked.append(f"--pg-bindir {explicit}")
        return (Path(explicit) if _has_server(Path(explicit)) else None), looked
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=5, check=True
            ).stdout.strip()
            looked.append(f"pg_config --bindir ({out})")
            if out and _has_server(Path(out)):
                return Path(out), looked
    initdb = shutil.which("initdb")
    looked.append("PATH")
    if initdb and _has_server(Path(initdb).parent):
        return Path(initdb).parent, looked
    looked.append("/usr/lib/postgresql/*/bin")
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: [int(n) for n in re.findall(r"\d+", p)],
        reverse=True,
    )
    for candidate in candidates:
        if _has_server(Path(candidate)):
            return Path(candidate), looked
    return None, looked


def _has_server(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) for name in _REQUIRED)


def no_binaries_message(looked: list[str]) -> str:
    return (
        f"no PostgreSQL server binaries (initdb, postgres) found; looked in: {', '.join(looked)}; "
        "install them (e.g. apt-get install postgresql) or pass --pg-bindir / ORMBENCH_PG_BINDIR"
    )


@dataclass(eq=False)
class LocalCluster:
    """A cluster ormbench created: its directory, its process, and who runs it."""

    root: Path
    process: subprocess.Popen[bytes] | None = None
    run_as: str | None = None

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def logfile(self) -> Path:
        return self.root / "server.log"

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.logfile.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])

    def stop(self) -> None:
        """Fast shutdown, then kill after STOP_TIMEOUT; then remove the directory."""
        _running.discard(self)
        proc = self.process
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)  # fast shutdown: disconnect clients, stop
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def stop_all() -> None:
    """Stop every cluster this process started and has not stopped yet."""
    for cluster in list(_running):
        cluster.stop()


atexit.register(stop_all)


def _run_as_user() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(ROOT_RUN_AS)
    except KeyError:
        raise BackendError(
            f"running as root, and initdb refuses root, but there is no {ROOT_RUN_AS!r} OS user "
            f"to run the server as; create it (useradd --system {ROOT_RUN_AS}), run as a normal "
            "user, or use --pg-url"
        ) from None
    return ROOT_RUN_AS


def _temp_base(run_as: str | None) -> str | None:
    """A temp base the server's user can reach: a root-only TMPDIR would lock it out."""
    base = tempfile.gettempdir()
    if run_as is None:
        return None
    path = Path(base).resolve()
    for part in (path, *path.parents):
        if not os.stat(part).st_mode & 0o001:
            return "/tmp"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _user_kwargs(run_as: str | None) -> dict[str, object]:
    if run_as is None:
        return {}
    entry = pwd.getpwnam(run_as)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def start_local(
    bindir_option: str | None,
    connect_timeout: float,
    *,
    keep: bool = False,
) -> PgServer:
    """Create, start and return a throwaway cluster.

    ``keep`` leaves it running after this process exits (``ormbench up``); otherwise it is
    stopped and removed by ``PgServer.stop()`` or at exit, whichever comes first.
    """
    bindir, looked = find_bindir(bindir_option)
    if bindir is None:
        raise BackendError(no_binaries_message(looked))
    run_as = _run_as_user()
    cluster = LocalCluster(Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=_temp_base(run_as))))
    cluster.run_as = run_as
    if not keep:
        _running.add(cluster)
    try:
        return _start(cluster, bindir, connect_timeout, keep)
    except BaseException:
        cluster.stop()
        raise


def _start(cluster: LocalCluster, bindir: Path, connect_timeout: float, keep: bool) -> PgServer:
    as_user = _user_kwargs(cluster.run_as)
    if cluster.run_as:
        entry = pwd.getpwnam(cluster.run_as)
        os.chown(cluster.root, entry.pw_uid, entry.pw_gid)
    initdb = subprocess.run(
        [
            str(bindir / "initdb"),
            "--no-sync",
            "-D",
            str(cluster.datadir),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        ],
        capture_output=True,
        text=True,
        cwd=cluster.root,
        **as_user,
    )
    if initdb.returncode != 0:
        err = " ".join((initdb.stderr or initdb.stdout).split())[:300]
        raise BackendError(f"initdb failed in {cluster.datadir}: {err}; check --pg-bindir")
    # ormbench's superuser needs no password; every other role must give the right one, so that
    # a wrong password fails here exactly as it does on a real server.
    (cluster.datadir / "pg_hba.conf").write_text(PG_HBA)
    for attempt in range(3):  # a free port can be taken between probing and binding
        port = _free_port()
        server = PgServer(
            backend="local",
            host="127.0.0.1",
            port=port,
            user=SUPERUSER,
            password=None,
            dbname="postgres",
            _stop=None if keep else cluster.stop,
        )
        settings = {
            **BENCHMARK_SETTINGS,
            "port": str(port),
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(cluster.datadir),
        }
        args = [str(bindir / "postgres"), "-D", str(cluster.datadir)]
        for key, value in settings.items():
            args += ["-c", f"{key}={value}"]
        with open(cluster.logfile, "ab") as log:
            # A session of its own: Ctrl-C in the terminal reaches pytest, which then stops the
            # server in order, instead of the server dying under a running benchmark.
            cluster.process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cluster.root,
                start_new_session=True,
                **as_user,
            )

        def died(proc: subprocess.Popen[bytes] = cluster.process) -> str | None:
            return (
                None if proc.poll() is None else (cluster.log_tail() or f"exit {proc.returncode}")
            )

        try:
            wait_ready(server, READY_DEADLINE, died)
        except Exception:
            if "could not bind" in cluster.log_tail(20) and attempt < 2:
                continue
            raise
        server.details = {"root": str(cluster.root), "pid": str(cluster.process.pid)}
        return inspect(server, connect_timeout)
    raise BackendError("could not find a free port for the local cluster after 3 attempts")


def stop_kept(root: Path, pid: int) -> None:
    """Stop a cluster left running by ``ormbench up`` (another process) and remove it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
    if root.name.startswith(TEMP_PREFIX):  # never remove a directory ormbench did not create
        shutil.rmtree(root, ignore_errors=True)
