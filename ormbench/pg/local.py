"""Backend ``local``: a throwaway cluster from local PostgreSQL server binaries.

``initdb --no-sync`` into a fresh temp dir, a free port on 127.0.0.1 plus a socket in the data
dir, benchmark settings, readiness by a real query. As root the server runs as an unprivileged
OS user (``postgres``), because initdb and postgres refuse to run as root. The cluster is
stopped and its directory removed at the end, after a failure, on Ctrl-C and on SIGTERM
(``stop_all`` runs at exit; the plugin and the CLI turn SIGTERM into an orderly exit).

On a shared machine: every connection needs the cluster's random password (scram-sha-256, TCP
and socket alike); a cluster is registered with the process that owns it, so that the next run
reaps it if that process was killed (``reap_orphans``); a cluster another process started is
stopped only once its postmaster is proven (``postmaster_of``), through ``pg_ctl stop -D``.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import re
import secrets
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
from ormbench.pg.state import private_dir, read_json, state_dir, write_private

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
# Every connection, TCP or unix socket, gives the cluster's password: ormbench's superuser
# included, so that no other account on the machine can run SQL (or COPY ... TO PROGRAM) as
# it. The socket lives in the data directory, which only the server's OS user can enter.
PG_HBA = """\
local all all scram-sha-256
host  all all 127.0.0.1/32 scram-sha-256
"""
# Bytes of randomness in a cluster's password (token_urlsafe: 4/3 characters per byte).
PASSWORD_BYTES = 24
# File initdb reads the superuser's password from; 0600 inside the 0700 cluster root, deleted
# as soon as initdb returns.
PWFILE = "initdb.pw"
# Folder of the state dir where running clusters are registered with their owner process.
REGISTRY = "clusters"

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
    registered: bool = False

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
        _unregister(self)


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
    with contextlib.suppress(OSError):  # clusters of runs killed before they could stop them
        reap_orphans()
    run_as = _run_as_user()
    cluster = LocalCluster(Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=_temp_base(run_as))))
    cluster.run_as = run_as
    if not keep:
        _running.add(cluster)
        _register(cluster)
    try:
        return _start(cluster, bindir, connect_timeout, keep)
    except BaseException:
        cluster.stop()
        raise


def _initdb(cluster: LocalCluster, bindir: Path, password: str) -> None:
    """initdb with scram-sha-256 everywhere; the password passes through a 0600 file that
    exists only while initdb runs (initdb reads it from a file or a terminal, nothing else)."""
    pwfile = cluster.root / PWFILE
    fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
        if cluster.run_as:
            entry = pwd.getpwnam(cluster.run_as)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        initdb = subprocess.run(
            [
                str(bindir / "initdb"),
                "--no-sync",
                "-D",
                str(cluster.datadir),
                "-U",
                SUPERUSER,
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ],
            capture_output=True,
            text=True,
            cwd=cluster.root,
            **_user_kwargs(cluster.run_as),
        )
    finally:
        pwfile.unlink(missing_ok=True)
    if initdb.returncode != 0:
        err = " ".join((initdb.stderr or initdb.stdout).split())[:300]
        raise BackendError(f"initdb failed in {cluster.datadir}: {err}; check --pg-bindir")
    (cluster.datadir / "pg_hba.conf").write_text(PG_HBA)


def _start(cluster: LocalCluster, bindir: Path, connect_timeout: float, keep: bool) -> PgServer:
    as_user = _user_kwargs(cluster.run_as)
    if cluster.run_as:
        entry = pwd.getpwnam(cluster.run_as)
        os.chown(cluster.root, entry.pw_uid, entry.pw_gid)
    # Generated here and held only in memory (and, for a kept server, in the 0600 state file).
    password = secrets.token_urlsafe(PASSWORD_BYTES)
    _initdb(cluster, bindir, password)
    for attempt in range(3):  # a free port can be taken between probing and binding
        port = _free_port()
        server = PgServer(
            backend="local",
            host="127.0.0.1",
            port=port,
            user=SUPERUSER,
            password=password,
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


# -- stopping a cluster another process started: prove it is ours first -----------------------


def postmaster_of(datadir: Path) -> int | None:
    """The pid of the postmaster serving ``datadir``, proven; None when none is running.

    Proof: the first line of ``datadir/postmaster.pid`` names a live process whose command line
    is a ``postgres`` binary started with ``-D`` on this very directory. A pid file left by a
    crash or a reboot names whatever process now has that number: it proves nothing.
    """
    try:
        pid = int((datadir / "postmaster.pid").read_text().splitlines()[0])
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except (OSError, ValueError, IndexError):
        return None
    if pid <= 0 or not argv or Path(argv[0]).name != "postgres" or "-D" not in argv[:-1]:
        return None
    try:
        target = Path(argv[argv.index("-D") + 1])
        same = target.resolve() == datadir.resolve()
    except OSError:
        return None
    return pid if same else None


def _signal_proven(datadir: Path, pid: int, sig: int) -> bool:
    """Send ``sig`` to ``pid`` only if it is still the proven postmaster of ``datadir``."""
    if pid <= 0 or postmaster_of(datadir) != pid:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    return True


def _pg_ctl_stop(datadir: Path, pid: int) -> bool:
    """``pg_ctl stop -D`` (fast), as the owner of the data directory; True if it stopped."""
    pg_ctl = Path(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()).parent
    pg_ctl = pg_ctl / "pg_ctl"
    if not os.access(pg_ctl, os.X_OK):
        return False
    owner = datadir.stat()
    as_owner: dict[str, object] = {}
    if os.geteuid() == 0 and owner.st_uid != 0:  # pg_ctl refuses root, as initdb does
        as_owner = {"user": owner.st_uid, "group": owner.st_gid, "extra_groups": []}
    try:
        done = subprocess.run(
            [
                str(pg_ctl),
                "stop",
                "-D",
                str(datadir),
                "-m",
                "fast",
                "-w",
                "-t",
                str(int(STOP_TIMEOUT)),
            ],
            capture_output=True,
            cwd="/",
            timeout=STOP_TIMEOUT + 5,
            **as_owner,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def stop_cluster_dir(root: Path) -> str:
    """Stop the cluster in ``root`` (if its postmaster is proven to run) and remove ``root``.

    Never signals a process that is not the postmaster of ``root/data``; never removes a
    directory ormbench did not create. Returns what was done, in a few words.
    """
    datadir = root / "data"
    pid = postmaster_of(datadir)
    done = "not running"
    if pid is not None:
        if not _pg_ctl_stop(datadir, pid):
            _signal_proven(datadir, pid, signal.SIGINT)  # fast shutdown
            deadline = time.monotonic() + STOP_TIMEOUT
            while postmaster_of(datadir) == pid and time.monotonic() < deadline:
                time.sleep(0.05)
            _signal_proven(datadir, pid, signal.SIGKILL)
        done = f"stopped postmaster {pid}"
    if root.name.startswith(TEMP_PREFIX) and root.is_dir() and not root.is_symlink():
        shutil.rmtree(root, ignore_errors=True)
    return done


# -- the registry of running clusters and the reaper ------------------------------------------


def _registry() -> Path:
    return state_dir() / REGISTRY


def _start_time(pid: int) -> str | None:
    """The start time of ``pid`` in clock ticks since boot (a reused pid has another one)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return None if fields[0] == "Z" else fields[19]


def _owner_alive(pid: int, started: str | None) -> bool:
    """True while process ``pid``, started at ``started``, runs (a reused pid does not count)."""
    if pid <= 0:
        return False
    if started is not None and Path("/proc/self/stat").exists():
        return _start_time(pid) == started
    try:  # no start time to compare: any live process with that pid is taken as the owner
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _register(cluster: LocalCluster) -> None:
    """Remember ``cluster`` with the process that owns it, so that a later run can reap it if
    this process dies without stopping it (kill -9, a crash, a power cut)."""
    entry = {
        "root": str(cluster.root),
        "owner_pid": os.getpid(),
        "owner_start": _start_time(os.getpid()),
    }
    try:
        write_private(private_dir(_registry()) / f"{cluster.root.name}.json", entry)
        cluster.registered = True
    except OSError:  # an unwritable state dir must not stop a run; the reaper just misses it
        cluster.registered = False


def _unregister(cluster: LocalCluster) -> None:
    if cluster.registered:
        (_registry() / f"{cluster.root.name}.json").unlink(missing_ok=True)


def reap_orphans() -> list[str]:
    """Stop and remove every registered cluster whose owning process is gone.

    The owner is gone when no process has its pid with its start time. Each postmaster is
    proven (``postmaster_of``) before it is signalled. Returns one line per cluster reaped.
    """
    reaped: list[str] = []
    registry = _registry()
    if not registry.is_dir():
        return reaped
    for path in sorted(registry.glob(f"{TEMP_PREFIX}*.json")):
        entry = read_json(path)
        if entry is None:
            continue
        owner = int(entry.get("owner_pid", 0))
        if _owner_alive(owner, entry.get("owner_start")):
            continue  # its owner still runs: it is in use
        root = Path(str(entry.get("root", "")))
        if not root.name.startswith(TEMP_PREFIX):
            path.unlink(missing_ok=True)
            continue
        done = stop_cluster_dir(root)
        path.unlink(missing_ok=True)
        reaped.append(f"reaped cluster {root} of dead process {owner} ({done})")
    return reaped
