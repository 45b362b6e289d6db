"""Seeding figures: end-to-end rate, the machine's COPY ceiling, phases, production, reuse.

    python benchmarks/seed_rate.py                      # every figure, throwaway local server
    python benchmarks/seed_rate.py --pg-url URL --figures canonical,reuse --repeat 3

Figures (each seed runs in a fresh child process, in a schema of its own, dropped after):

- ``ceiling``: the machine's ceiling: canonical-shaped rows generated and encoded up front,
  then COPYed (binary content, text links, FREEZE) into the truncated, unindexed tables, as
  the seeder does. Content rows per second of the COPY alone, with their links.
- ``canonical``: ``ensure_dataset`` end to end on ``canonical`` (generate, load, index,
  analyze): content rows/s, seconds per phase, and the rate as a fraction of the ceiling.
- ``production``: wall time and peak RSS of a production seed. ``--production-fraction F``
  seeds F of production's rows instead and extrapolates the time (1/F, marked as estimated).
- ``reuse``: a fresh process finding a complete ``ci`` dataset: the ensure_dataset call and
  the whole process (interpreter start and imports included).
- ``costs``: where the server's CPU goes, per the ceiling's pre-encoded rows: COPY of content
  with TOAST compression pglz (PostgreSQL's default), lz4 or none (STORAGE EXTERNAL), COPY of
  the links, then the GIN index on item_metadata (jsonb_ops, as modelled, and jsonb_path_ops)
  and ANALYZE of content_items_all. Only pglz and jsonb_ops are what the suite seeds; the
  others show what the levers that would change the modelled data would save.

Where the server runs on this machine, CPU seconds of the Python process and of every server
process are reported per phase too: on a shared machine wall times move with other people's
load, CPU seconds much less. The load average is printed with each figure for that reason.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import Engine, text  # noqa: E402

from ormbench.config import resolve  # noqa: E402
from ormbench.data import seed  # noqa: E402
from ormbench.data.generate import Generator  # noqa: E402
from ormbench.data.models import PARTITIONS, content_tags  # noqa: E402
from ormbench.data.profiles import get_profile  # noqa: E402
from ormbench.db import make_engine  # noqa: E402
from ormbench.pg.connect import connect  # noqa: E402
from ormbench.pg.schema import drop_owned_schema, ensure_owned_schema  # noqa: E402
from ormbench.pg.url import parse_url  # noqa: E402
from ormbench.workspace import open_server  # noqa: E402

FIGURES = ("ceiling", "canonical", "production", "reuse", "costs")
# Content rows generated up front for the ceiling: canonical-shaped, about 130 MB encoded.
CEILING_ROWS = 60_000
# Seconds between CPU samples of the server processes.
SAMPLE_EVERY = 0.1
# Phases in the order the seeder runs them.
PHASES = ("schema", "check", "load", "index", "roles", "mark")
_TICK = os.sysconf("SC_CLK_TCK")


# -- CPU accounting ---------------------------------------------------------------------------


def _proc_cpu(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of a process, None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


class CpuSampler:
    """Samples CPU seconds of this process and of every process of the server, whose
    postmaster is found through a backend pid (only if the server runs on this machine)."""

    def __init__(self, engine: Engine) -> None:
        with engine.connect() as conn:
            backend = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        found = _proc_cpu(int(backend))
        self.postmaster = found[0] if found else None
        self.samples: list[tuple[float, float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def server_cpu(self) -> float:
        if self.postmaster is None:
            return float("nan")
        total = 0.0
        for name in os.listdir("/proc"):
            if name.isdigit():
                found = _proc_cpu(int(name))
                if found and (found[0] == self.postmaster or int(name) == self.postmaster):
                    total += found[1]
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), time.process_time(), self.server_cpu()))
            self._stop.wait(SAMPLE_EVERY)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((time.perf_counter(), time.process_time(), self.server_cpu()))

    def between(self, start: float, end: float) -> tuple[float, float]:
        """(python, server) CPU seconds between two perf_counter instants."""

        def at(t: float) -> tuple[float, float, float]:
            return min(self.samples, key=lambda s: abs(s[0] - t))

        a, b = at(start), at(end)
        return b[1] - a[1], b[2] - a[2]


def _load_average() -> str:
    with contextlib.suppress(OSError), open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])
    return "?"


# -- child process work -----------------------------------------------------------------------


@contextlib.contextmanager
def _fresh_schema(url: str) -> Iterator[Engine]:
    server = parse_url(url)
    schema = f"ormbench_seedrate_{uuid.uuid4().hex[:8]}"
    with connect(server, 5.0, autocommit=True) as conn:
        ensure_owned_schema(conn, schema)
    engine = make_engine(server, schema)
    try:
        yield engine
    finally:
        engine.dispose()
        with connect(server, 5.0, autocommit=True) as conn:
            drop_owned_schema(conn, schema)


def child_seed(url: str, profile_name: str, overrides: dict[str, str]) -> dict[str, Any]:
    """Seed a profile in a fresh schema; phases with CPU, rows/s, peak RSS."""
    profile = get_profile(profile_name, overrides)
    with _fresh_schema(url) as engine, CpuSampler(engine) as sampler:
        started = time.perf_counter()
        info = seed.ensure_dataset(engine, profile, progress=False)
    cpu = {}
    at = started
    for name in PHASES:
        if name in info.phases:
            cpu[name] = sampler.between(at, at + info.phases[name])
            at += info.phases[name]
    return {
        "profile": profile_name,
        "overrides": overrides,
        "content_rows": info.content_rows,
        "links": info.counts["content_tags"],
        "seconds": info.seconds,
        "rows_per_second": info.rows_per_second,
        "phases": info.phases,
        "steps": info.steps,
        "cpu": cpu,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load_average": _load_average(),
    }


def _ceiling_rows(conn: Any) -> tuple[list[Any], list[str], Any]:
    """Canonical-shaped payloads of CEILING_ROWS content rows, generated and encoded up front."""
    profile = get_profile(
        "canonical", {"items": str(CEILING_ROWS // 20), "auto": str(CEILING_ROWS * 19 // 20)}
    )
    gen = Generator(profile)
    columns = gen.plans["content_items_all"].columns
    types = {p: seed._column_types(conn, p, columns) for p in PARTITIONS.values()}
    encoder = seed._Encoder(conn.connection.driver_connection, types)
    return list(seed._payloads(gen, encoder, {})), columns, profile


def _copy_all(cursor: Any, payloads: list[Any], columns: list[str], *, links: bool) -> None:
    """COPY the content (links=False) or the tag links (links=True) of ``payloads``."""
    link_columns = [c.name for c in content_tags.columns]
    for payload in payloads:
        for target, data in payload.by_table.items():
            if data and (target == content_tags.name) == links:
                seed._copy(cursor, target, link_columns if links else columns, data)


def child_ceiling(url: str) -> dict[str, Any]:
    """COPY of pre-encoded canonical rows into truncated, unindexed tables."""
    with _fresh_schema(url) as engine:
        seed.create_schema(engine)
        with engine.connect() as conn, conn.begin():
            seed._drop_bulk_constraints(conn)
            seed._truncate(conn)
            gc.freeze()
            gc.disable()
            t = time.process_time()
            payloads, columns, profile = _ceiling_rows(conn)
            produce = time.process_time() - t
            gc.enable()
            cursor = conn.connection.driver_connection.cursor()
            with CpuSampler(engine) as sampler:
                started = time.perf_counter()
                _copy_all(cursor, payloads, columns, links=False)
                _copy_all(cursor, payloads, columns, links=True)
                wall = time.perf_counter() - started
            conn.rollback()
    n = profile.content_rows
    server_cpu = sampler.between(started, started + wall)[1]
    return {
        "content_rows": n,
        "links": sum(p.links for p in payloads),
        "copy_seconds": wall,
        "rows_per_second": n / wall,
        "server_cpu": server_cpu,
        "python_cpu_generate_encode": produce,
        "python_rows_per_cpu_second": n / produce,
        "load_average": _load_average(),
    }


# Column storage variants of the ``costs`` figure: SQL applied to each JSON column.
_STORAGE = {
    "pglz": "SET STORAGE EXTENDED, ALTER {c} SET COMPRESSION pglz",
    "lz4": "SET STORAGE EXTENDED, ALTER {c} SET COMPRESSION lz4",
    "none": "SET STORAGE EXTERNAL",
}
# Statements timed after the load in the ``costs`` figure.
_BUILDS = {
    "gin jsonb_ops": "CREATE INDEX ON content_items_all USING gin (item_metadata)",
    "gin jsonb_path_ops": "CREATE INDEX ON content_items_all USING gin (item_metadata "
    "jsonb_path_ops)",
    "analyze content": "ANALYZE content_items_all",
}


def child_costs(url: str) -> dict[str, Any]:
    """Server CPU of each part of a seed, on the ceiling's pre-encoded rows."""
    out: dict[str, Any] = {"content_rows": CEILING_ROWS, "server_cpu": {}}
    cpu = out["server_cpu"]
    with _fresh_schema(url) as engine:
        seed.create_schema(engine)
        with engine.connect() as conn:
            payloads, columns, _ = _ceiling_rows(conn)
            conn.commit()
            cursor = conn.connection.driver_connection.cursor()
            # pglz first, committed: the tables keep that load for the index builds; the
            # other variants are rolled back.
            for name, alter in _STORAGE.items():
                trans = conn.begin()
                seed._drop_bulk_constraints(conn)
                seed._truncate(conn)
                for partition in PARTITIONS.values():
                    for column in ("item_metadata", "content_data", "path_thumbs_alt_res"):
                        sql = alter.format(c=column)
                        conn.execute(text(f"ALTER TABLE {partition} ALTER {column} {sql}"))
                with CpuSampler(engine) as sampler:
                    started = time.perf_counter()
                    _copy_all(cursor, payloads, columns, links=False)
                    wall = time.perf_counter() - started
                cpu[f"copy content, {name}"] = sampler.between(started, started + wall)[1]
                if name != "pglz":
                    trans.rollback()
                    continue
                with CpuSampler(engine) as sampler:
                    started = time.perf_counter()
                    _copy_all(cursor, payloads, columns, links=True)
                    wall = time.perf_counter() - started
                cpu["copy links"] = sampler.between(started, started + wall)[1]
                trans.commit()
            for name, sql in _BUILDS.items():
                with CpuSampler(engine) as sampler:
                    started = time.perf_counter()
                    conn.execute(text(sql))
                    conn.commit()
                    wall = time.perf_counter() - started
                cpu[name] = sampler.between(started, started + wall)[1]
            out["links"] = conn.execute(text("SELECT count(*) FROM content_tags")).scalar()
    out["load_average"] = _load_average()
    return out


def child_reuse(url: str, schema: str, started: float) -> dict[str, Any]:
    """ensure_dataset(ci) on an already seeded schema, timed from process start."""
    engine = make_engine(parse_url(url), schema)
    t = time.perf_counter()
    info = seed.ensure_dataset(engine, get_profile("ci", {}), progress=False)
    call = time.perf_counter() - t
    engine.dispose()
    return {
        "reused": info.reused,
        "call_seconds": call,
        "process_seconds": time.time() - started,
        "load_average": _load_average(),
    }


def _run_child(url: str, *args: str) -> dict[str, Any]:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            *args,
            "--pg-url",
            url,
            "--started",
            str(time.time()),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- the figures ------------------------------------------------------------------------------


def _fmt_cpu(cpu: dict[str, Any], name: str) -> str:
    if name not in cpu:
        return ""
    py, server = cpu[name]
    return f"  (cpu: python {py:.1f} s, server {server:.1f} s)"


def figures(url: str, wanted: list[str], repeat: int, fraction: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "ceiling" in wanted:
        runs = [_run_child(url, "ceiling") for _ in range(repeat)]
        rate = statistics.median(r["rows_per_second"] for r in runs)
        out["ceiling"] = {"rows_per_second": rate, "runs": runs}
        last = runs[-1]
        print(
            f"ceiling: COPY of pre-encoded rows into unindexed tables: {rate:,.0f} content "
            f"rows/s with {last['links'] / last['content_rows']:.1f} links each (median of "
            f"{repeat}; server cpu {last['server_cpu']:.1f} s for {last['content_rows']:,} "
            f"rows); Python generate+encode alone: {last['python_rows_per_cpu_second']:,.0f} "
            f"rows per cpu-second; load average {last['load_average']}"
        )
    if "canonical" in wanted:
        runs = [_run_child(url, "seed", "canonical") for _ in range(repeat)]
        rate = statistics.median(r["rows_per_second"] for r in runs)
        out["canonical"] = {"rows_per_second": rate, "runs": runs}
        best = min(runs, key=lambda r: abs(r["rows_per_second"] - rate))
        ratio = ""
        if "ceiling" in out:
            ratio = f" = {rate / out['ceiling']['rows_per_second']:.0%} of the ceiling"
        print(
            f"canonical end to end: {rate:,.0f} content rows/s{ratio} (median of {repeat}; "
            f"{best['content_rows']:,} rows + {best['links']:,} links in "
            f"{best['seconds']:.1f} s; load average {best['load_average']})"
        )
        for name in PHASES:
            if name in best["phases"]:
                print(f"  {name:8s} {best['phases'][name]:7.2f} s{_fmt_cpu(best['cpu'], name)}")
        print(f"  (generate, inside load: {best['phases'].get('generate', 0):.2f} s busy)")
    if "production" in wanted:
        overrides = {}
        if fraction < 1:
            full = get_profile("production", {})
            overrides = {
                "items": str(round(full.items * fraction)),
                "auto": str(round(full.auto * fraction)),
            }
        run = _run_child(url, "seed", "production", *(f"{k}={v}" for k, v in overrides.items()))
        out["production"] = run
        label = "measured" if fraction >= 1 else f"estimated from a {fraction:.0%} run"
        seconds = run["seconds"] / min(fraction, 1.0)
        print(
            f"production: {seconds / 60:.1f} min wall ({label}; {run['content_rows']:,} rows + "
            f"{run['links']:,} links in {run['seconds']:.1f} s = {run['rows_per_second']:,.0f} "
            f"rows/s), peak RSS {run['peak_rss_mb']:.0f} MB; load average {run['load_average']}"
        )
        for name in PHASES:
            if name in run["phases"]:
                print(f"  {name:8s} {run['phases'][name]:7.2f} s{_fmt_cpu(run['cpu'], name)}")
    if "reuse" in wanted:
        server = parse_url(url)
        schema = f"ormbench_seedrate_{uuid.uuid4().hex[:8]}"
        with connect(server, 5.0, autocommit=True) as conn:
            ensure_owned_schema(conn, schema)
        try:
            engine = make_engine(server, schema)
            seed.ensure_dataset(engine, get_profile("ci", {}), progress=False)
            engine.dispose()
            runs = [_run_child(url, "reuse", schema) for _ in range(max(repeat, 3))]
        finally:
            with connect(server, 5.0, autocommit=True) as conn:
                drop_owned_schema(conn, schema)
        call = statistics.median(r["call_seconds"] for r in runs)
        process = statistics.median(r["process_seconds"] for r in runs)
        out["reuse"] = {"call_seconds": call, "process_seconds": process, "runs": runs}
        assert all(r["reused"] for r in runs)
        print(
            f"reused ci: ensure_dataset {call:.2f} s, whole fresh process {process:.2f} s "
            f"(median of {len(runs)}; load average {runs[-1]['load_average']})"
        )
    if "costs" in wanted:
        run = _run_child(url, "costs")
        out["costs"] = run
        n = run["content_rows"]
        print(
            f"costs: server CPU per part of a seed, {n:,} content rows and {run['links']:,} "
            f"links (load average {run['load_average']})"
        )
        for name, seconds in run["server_cpu"].items():
            print(f"  {name:28s} {seconds:6.2f} s = {seconds / n * 1e6:5.1f} µs per content row")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg-url", help="server to use (default: ORMBENCH_PG_URL or a throwaway)")
    parser.add_argument("--figures", default=",".join(FIGURES), help="comma-separated subset")
    parser.add_argument("--repeat", type=int, default=3, help="runs of ceiling and canonical")
    parser.add_argument("--production-fraction", type=float, default=1.0)
    parser.add_argument("--json", help="also write every run to this file")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--started", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "seed":
            result = child_seed(args.pg_url, rest[0], dict(kv.split("=", 1) for kv in rest[1:]))
        elif kind == "ceiling":
            result = child_ceiling(args.pg_url)
        elif kind == "costs":
            result = child_costs(args.pg_url)
        else:
            result = child_reuse(args.pg_url, rest[0], args.started)
        print(json.dumps(result))
        return 0
    wanted = [f for f in args.figures.split(",") if f]
    unknown = sorted(set(wanted) - set(FIGURES))
    if unknown:
        parser.error(f"unknown figures {unknown}; choose from {', '.join(FIGURES)}")
    settings = resolve(options={"pg_url": args.pg_url})
    with open_server(settings) as server:
        results = figures(server.url, wanted, args.repeat, args.production_fraction)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
