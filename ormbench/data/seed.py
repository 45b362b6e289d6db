"""Create ormbench's schema and seed a profile's dataset into it, or reuse one already there.

A seed runs these phases (seconds of each in :attr:`DatasetInfo.phases`):

1. ``load``: one transaction drops the big tables' keys, indexes and foreign keys, TRUNCATEs
   ormbench's data tables and COPYs every row straight into the partitions
   (``content_items``, ``content_items_auto``) and ``content_tags``, ``FREEZE``-d (the
   tables were truncated in this transaction, so rows are written frozen and all-visible and
   VACUUM has nothing left to do on the heap). A producer thread generates and encodes the
   next chunk while the main thread COPYs the previous one: Python runs on one core while the
   server parses and stores on the other (measured on ci, 2 busy cores: the load phase takes
   0.70x the time of the same work done in turn). Content rows travel in binary COPY format,
   encoded by psycopg's C row formatter (about twice as fast as formatting text in Python);
   tag links, three short columns, as text. The cyclic GC is frozen and off meanwhile (it
   would scan millions of young tuples for nothing, about a third of generation time: compare
   phase ``generate`` of `python benchmarks/seed_rate.py --figures canonical` with the
   ``_gc_paused()`` made a no-op).
   ``generate`` is the producer's busy time inside this phase.
2. ``index``: per big table, primary key, indexes (created on the partitioned parent:
   PostgreSQL builds them per partition), foreign keys, then VACUUM ANALYZE, built once after
   the load instead of row by row during it. ``INDEX_WORKERS`` connections run these
   statements in parallel, heaviest ready statement first, each table's chain in dependency
   order (``_index_jobs``): the GIN index on item_metadata builds while the other connection
   does every btree. Per-statement seconds are in :attr:`DatasetInfo.steps`. VACUUM is
   nearly free thanks to FREEZE; ANALYZE gives the planner its statistics.
3. ``roles``: derive and store the scenario roles (:mod:`ormbench.data.roles`).
4. ``mark``: write the fingerprint to ``ormbench_meta`` in a transaction of its own, last.
   Until this commit the dataset counts as absent, so a seed interrupted anywhere is redone
   by the next run. The old marker is deleted in the load transaction (and comes back with
   the old rows if that transaction does not commit).

A reseed touches only ormbench's own tables, by name, in the schema first on the
connection's ``search_path`` (ormbench's schema), and nothing else.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import io
import json
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg
from psycopg.copy import Copy, FileWriter
from psycopg.types.json import set_json_dumps
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import AddConstraint, CreateIndex

from ormbench.data.generate import GENERATOR_VERSION, Generator
from ormbench.data.models import (
    PARTITIONS,
    SCHEMA_VERSION,
    Base,
    Source,
    content_items_all,
    content_tags,
    ormbench_meta,
    partition_ddl,
)
from ormbench.data.profiles import Profile
from ormbench.data.roles import META_ROLES, compute_roles
from ormbench.errors import ConfigError, DatasetBusyError, DatasetChangedError
from ormbench.report.progress import Reporter, RowProgress, stderr_reporter

# ormbench_meta keys (META_ROLES lives with the roles).
META_SCHEMA_VERSION = "schema_version"
META_DATASET = "dataset"
# Chunks the producer may run ahead of the COPY (each about 4 MB).
QUEUE_CHUNKS = 4
# GIL switch interval during the load (see _prompt_handover).
SWITCH_INTERVAL_S = 0.0002
# Connections building indexes and running VACUUM ANALYZE at once: one per core of the
# 2-core machines this runs on; more only queue on the CPU.
INDEX_WORKERS = 2
# Memory per index build: enough to sort a production-sized btree or GIN build in memory.
MAINTENANCE_WORK_MEM = "512MB"
# Hex digits of the fingerprint hash shown in summaries.
HASH_CHARS = 12
# Tables a dataset consists of, in load order.
DATA_TABLES = ("users", "tags", "content_items_all", "content_tags")
# Tables whose keys and indexes are dropped before the load and rebuilt after it.
_BULK_TABLES = (content_items_all, content_tags)
# Relative build cost of each index, for longest-first scheduling (measured on canonical:
# the GIN build alone is as long as all the btrees together).
_GIN_WEIGHT = 8.0
# Seconds between attempts of a seed waiting for the runs that read its dataset to end.
LOCK_POLL_S = 0.5
# Times a run tries to open a dataset that other processes keep reseeding before giving up.
OPEN_ATTEMPTS = 3


# -- schema -----------------------------------------------------------------------------------


def _current_schema(conn: Connection) -> str:
    schema = conn.execute(text("SELECT current_schema()")).scalar()
    if schema is None:
        raise ConfigError(
            "the first schema on the connection's search_path does not exist; ormbench works in "
            "its own schema (--pg-schema / ORMBENCH_PG_SCHEMA), which must be created first"
        )
    return str(schema)


def _lock_key(conn: Connection, purpose: str) -> int:
    key = f"ormbench:{purpose}:{_current_schema(conn)}".encode()
    # A signed 64-bit advisory lock key, stable across processes.
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big", signed=True)


def create_schema(engine: Engine) -> None:
    """Create ormbench's tables and partitions where missing; record the schema version.

    Idempotent and safe to run concurrently (serialized by an advisory lock). Tables recorded
    with another SCHEMA_VERSION are dropped and recreated: they are ormbench's own.
    """
    with engine.begin() as conn:
        conn.execute(select(text(f"pg_advisory_xact_lock({_lock_key(conn, 'schema')})")))
        has_meta = conn.dialect.has_table(conn, ormbench_meta.name)
        recorded = _meta_get(conn, META_SCHEMA_VERSION) if has_meta else None
        if recorded is not None and recorded != SCHEMA_VERSION:
            Base.metadata.drop_all(conn, checkfirst=True)
        Base.metadata.create_all(conn, checkfirst=True)
        for ddl in partition_ddl():
            conn.execute(text(ddl))
        if recorded != SCHEMA_VERSION:
            _meta_put(conn, META_SCHEMA_VERSION, SCHEMA_VERSION)


def _meta_get(conn: Connection, key: str) -> Any:
    return conn.execute(select(ormbench_meta.c.value).where(ormbench_meta.c.key == key)).scalar()


def _meta_put(conn: Connection, key: str, value: Any) -> None:
    stmt = insert(ormbench_meta).values(key=key, value=value)
    conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": value}))


# -- fingerprint and result -------------------------------------------------------------------


def fingerprint(profile: Profile) -> dict[str, Any]:
    """Everything that determines the seeded rows: profile name, knobs (seed included),
    schema version and generator version."""
    return {
        "profile": profile.name,
        "knobs": profile.knobs(),
        "schema_version": SCHEMA_VERSION,
        "generator_version": GENERATOR_VERSION,
    }


def fingerprint_hash(fp: dict[str, Any]) -> str:
    """Short stable hash of a fingerprint (SHA-256 of its sorted-key JSON)."""
    blob = json.dumps(fp, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:HASH_CHARS]


@dataclass(frozen=True)
class DatasetInfo:
    """What ensure_dataset found or did.

    ``counts``: rows per table, partitions separately. ``phases``: seconds of this call per
    phase (see the module docstring). ``steps``: seconds per index/analyze statement.
    ``seconds``: wall time of this call. ``rows_per_second``: content rows per second of the
    seed that loaded the data, end to end (generate, load, index, analyze); for a reused
    dataset, the figure recorded when it was seeded.
    """

    fingerprint: dict[str, Any]
    fingerprint_hash: str
    counts: dict[str, int]
    phases: dict[str, float]
    seconds: float
    rows_per_second: float
    reused: bool
    steps: dict[str, float] = field(default_factory=dict)

    @property
    def content_rows(self) -> int:
        return sum(self.counts.get(name, 0) for name in PARTITIONS.values())


def _count_rows(conn: Connection) -> dict[str, int]:
    names = ["users", "tags", *PARTITIONS.values(), "content_tags"]
    sql = " UNION ALL ".join(f"SELECT '{n}', count(*) FROM {n}" for n in names)
    return {str(name): int(count) for name, count in conn.execute(text(sql))}


# -- encoding rows for COPY -------------------------------------------------------------------


class _Encoder:
    """Encodes rows as complete binary COPY streams with psycopg's C row formatter, away from
    any COPY in progress (a FileWriter into memory), so a producer thread can do it.

    Uses a cursor that never executes on a connection nobody else uses: it only carries the
    adapters, with orjson as the JSON encoder (about 5x json.dumps).
    """

    def __init__(self, driver: psycopg.Connection[Any], types: dict[str, list[int]]) -> None:
        self.cursor = driver.cursor()
        set_json_dumps(orjson.dumps, context=self.cursor)
        self.types = types

    def encode(self, target: str, rows: Sequence[Sequence[Any]]) -> bytes:
        if not rows:
            return b""
        buffer = io.BytesIO()
        with Copy(self.cursor, binary=True, writer=FileWriter(buffer)) as copy:
            copy.set_types(self.types[target])
            for row in rows:
                copy.write_row(row)
        return buffer.getvalue()


def _column_types(conn: Connection, table: str, columns: Sequence[str]) -> list[int]:
    """The type oids of ``columns`` of ``table``, as binary COPY must send them."""
    rows = conn.execute(
        text(
            "SELECT attname, atttypid::int FROM pg_attribute "
            "WHERE attrelid = CAST(:t AS regclass) AND attnum > 0 AND NOT attisdropped"
        ),
        {"t": table},
    )
    oids = {str(name): int(oid) for name, oid in rows}
    return [oids[c] for c in columns]


@dataclass
class _Payload:
    """One chunk, encoded: COPY data per target table."""

    by_table: dict[str, bytes]
    content_rows: int
    links: int


def _payloads(gen: Generator, encoder: _Encoder, stats: dict[str, float]) -> Iterator[_Payload]:
    columns = gen.plans["content_items_all"].columns
    source_at, id_at = columns.index("source_type"), columns.index("id")
    tag_texts = [str(t) for t in gen.tag_ids]
    regular = Source.ITEMS.value
    regular_table, auto_table = PARTITIONS[Source.ITEMS], PARTITIONS[Source.AUTO]
    busy = 0.0
    started = time.perf_counter()
    for chunk in gen.chunks():
        regular_rows = [r for r in chunk.rows if r[source_at] == regular]
        auto_rows = [r for r in chunk.rows if r[source_at] != regular]
        links = [
            f"{row[id_at]}\t{row[source_at]}\t{tag_texts[rank]}\n"
            for row, ranks in zip(chunk.rows, chunk.tag_ranks, strict=True)
            for rank in ranks
        ]
        payload = _Payload(
            by_table={
                regular_table: encoder.encode(regular_table, regular_rows),
                auto_table: encoder.encode(auto_table, auto_rows),
                content_tags.name: "".join(links).encode(),
            },
            content_rows=len(chunk.rows),
            links=len(links),
        )
        busy += time.perf_counter() - started
        yield payload
        started = time.perf_counter()
    stats["generate"] = busy


_DONE = object()


class _Producer(threading.Thread):
    """Runs an iterator ahead of its consumer through a bounded queue; an exception in the
    producer is re-raised in the consumer, and stop() ends the producer early."""

    def __init__(self, source: Iterator[Any]) -> None:
        super().__init__(name="ormbench-seed-producer", daemon=True)
        self.source = source
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_CHUNKS)
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            for item in self.source:
                if not self._put(item):
                    return
            self._put(_DONE)
        except BaseException as exc:  # handed over to the consumer, which re-raises it
            self._put(exc)

    def _put(self, item: Any) -> bool:
        while not self.stopping.is_set():
            with contextlib.suppress(queue.Full):
                self.queue.put(item, timeout=0.1)
                return True
        return False

    def __iter__(self) -> Iterator[Any]:
        while (item := self.queue.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item

    def stop(self) -> None:
        self.stopping.set()
        self.join()


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Freeze and disable the cyclic GC: generated rows hold no reference cycles."""
    was_enabled = gc.isenabled()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        gc.unfreeze()


@contextlib.contextmanager
def _prompt_handover() -> Iterator[None]:
    """Shorten the GIL switch interval while the producer thread runs beside the COPY.

    The main thread only wakes to refill the socket, then wants the GIL back from the busy
    producer; at the default 5 ms it waits that long while the server, which drains 200 KB
    in far less, sits idle. Measured on canonical: load phase 17.3 s at 5 ms, 12.9 s at 0.2 ms.
    """
    previous = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


# -- load -------------------------------------------------------------------------------------


def _drop_bulk_constraints(conn: Connection) -> None:
    """Drop the big tables' foreign keys, indexes and primary keys (rebuilt after the load:
    building an index once is far cheaper than maintaining it row by row)."""
    for table in _BULK_TABLES:
        foreign = conn.execute(
            text(
                "SELECT conname FROM pg_constraint "
                "WHERE contype = 'f' AND conrelid = CAST(:t AS regclass)"
            ),
            {"t": table.name},
        ).scalars()
        for name in list(foreign):
            conn.execute(text(f'ALTER TABLE {table.name} DROP CONSTRAINT "{name}"'))
        for index in table.indexes:
            conn.execute(text(f'DROP INDEX IF EXISTS "{index.name}"'))
        pk = table.primary_key.name
        conn.execute(text(f'ALTER TABLE {table.name} DROP CONSTRAINT IF EXISTS "{pk}"'))


def _truncate(conn: Connection) -> None:
    schema = conn.dialect.identifier_preparer.quote(_current_schema(conn))
    conn.execute(text(f"TRUNCATE {', '.join(f'{schema}.{name}' for name in DATA_TABLES)}"))


def _copy(cursor: psycopg.Cursor[Any], target: str, columns: Sequence[str], data: bytes) -> None:
    binary = target != content_tags.name
    options = "FORMAT binary, FREEZE" if binary else "FREEZE"
    with cursor.copy(f"COPY {target} ({', '.join(columns)}) FROM STDIN ({options})") as copy:
        copy.write(data)


def _load(conn: Connection, gen: Generator, phases: dict[str, float], bar: RowProgress) -> int:
    """COPY every row of ``gen`` into the (truncated) tables; returns the number of links."""
    driver: psycopg.Connection[Any] = conn.connection.driver_connection  # type: ignore[assignment]
    plans = gen.plans
    content_columns = plans["content_items_all"].columns
    targets = {
        "users": plans["users"].columns,
        "tags": plans["tags"].columns,
        **{partition: content_columns for partition in PARTITIONS.values()},
    }
    types = {t: _column_types(conn, t, c) for t, c in targets.items()}
    link_columns = [c.name for c in content_tags.columns]
    links = 0
    # The producer thread encodes with a connection of its own: it never does I/O on it,
    # but dumpers read connection state, and a libpq connection is not for two threads.
    spare = conn.engine.raw_connection()
    encoder = _Encoder(spare.driver_connection, types)  # type: ignore[arg-type]
    with contextlib.closing(spare), driver.cursor() as cursor, _gc_paused(), _prompt_handover():
        _copy(cursor, "users", targets["users"], encoder.encode("users", gen.users))
        _copy(cursor, "tags", targets["tags"], encoder.encode("tags", gen.tags))
        producer = _Producer(_payloads(gen, encoder, phases))
        producer.start()
        try:
            for payload in producer:
                for target, data in payload.by_table.items():
                    if data:
                        columns = targets.get(target, link_columns)
                        _copy(cursor, target, columns, data)
                links += payload.links
                bar.update(payload.content_rows)
        finally:
            producer.stop()
    return links


def _set_sequence(conn: Connection, last_id: int) -> None:
    # Later inserts (hand-made factory objects) continue after the seeded ids.
    conn.execute(select(text(f"setval('content_items_id_seq', {max(last_id, 1)}, {last_id > 0})")))


# -- index and analyze, in parallel -----------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    """One DDL or maintenance statement, its relative cost (heaviest runs first) and the jobs
    that must be done before it (lock conflicts and meaning)."""

    name: str
    sql: str
    weight: float
    after: tuple[str, ...] = ()


def _ddl(conn: Connection, element: Any) -> str:
    return str(element.compile(dialect=conn.dialect))


def _index_jobs(conn: Connection) -> list[_Job]:
    """Per big table: primary key (ALTER TABLE locks out concurrent index builds), then its
    indexes (concurrently with each other), then its foreign keys (they scan the table),
    then VACUUM ANALYZE (it waits for index builds on the same table anyway). The two tables'
    chains run side by side."""
    jobs: list[_Job] = []
    for table in _BULK_TABLES:
        pk = f"{table.name}.pkey"
        indexes = []
        for index in sorted(table.indexes, key=lambda i: i.name or ""):
            gin = index.dialect_options["postgresql"]["using"] == "gin"
            sql = _ddl(conn, CreateIndex(index))
            jobs.append(_Job(str(index.name), sql, _GIN_WEIGHT if gin else 1.0, (pk,)))
            indexes.append(str(index.name))
        # A key weighs what it gates, so the table with the GIN index starts first.
        gated = 1.0 + sum(job.weight for job in jobs if job.after == (pk,))
        jobs.append(_Job(pk, _ddl(conn, AddConstraint(table.primary_key)), gated))
        keys = []
        for fk in sorted(table.foreign_key_constraints, key=lambda c: c.column_keys):
            name = f"{table.name}.fk.{'.'.join(fk.column_keys)}"
            jobs.append(_Job(name, _ddl(conn, AddConstraint(fk)), 0.5, (pk, *indexes)))
            keys.append(name)
        analyze = f"VACUUM (ANALYZE) {table.name}"
        jobs.append(_Job(f"{table.name}.analyze", analyze, 2.0, (pk, *indexes, *keys)))
    for name in ("users", "tags"):
        jobs.append(_Job(f"{name}.analyze", f"VACUUM (ANALYZE) {name}", 0.1))
    return jobs


def _run_jobs(engine: Engine, jobs: list[_Job], steps: dict[str, float]) -> None:
    """Run ``jobs`` on INDEX_WORKERS autocommit connections: each worker takes the heaviest
    job whose prerequisites are done. Records each job's seconds in ``steps``."""
    pending = {job.name: job for job in jobs}
    done: set[str] = set()
    errors: list[BaseException] = []
    changed = threading.Condition()

    def next_job() -> _Job | None:
        with changed:
            while True:
                if errors or not pending:
                    return None
                ready = [j for j in pending.values() if done.issuperset(j.after)]
                if ready:
                    job = max(ready, key=lambda j: (j.weight, j.name))
                    del pending[job.name]
                    return job
                changed.wait()

    def fail(exc: BaseException) -> None:
        with changed:
            errors.append(exc)
            changed.notify_all()

    def work() -> None:
        try:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text(f"SET maintenance_work_mem = '{MAINTENANCE_WORK_MEM}'"))
                while (job := next_job()) is not None:
                    started = time.perf_counter()
                    conn.execute(text(job.sql))
                    steps[job.name] = time.perf_counter() - started
                    with changed:
                        done.add(job.name)
                        changed.notify_all()
                # The pooled connection goes back to other users with the server's setting.
                conn.execute(text("RESET maintenance_work_mem"))
        except BaseException as exc:  # re-raised by the caller below
            fail(exc)

    # Daemon threads: on Ctrl-C the process does not wait for a running CREATE INDEX.
    threads = [
        threading.Thread(target=work, name=f"ormbench-index-{i}", daemon=True)
        for i in range(INDEX_WORKERS)
    ]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except BaseException as exc:  # e.g. KeyboardInterrupt: stop handing out jobs
        fail(exc)
        raise
    if errors:
        raise errors[0]


# -- the seed ---------------------------------------------------------------------------------


# What ``progress`` may be: off, on (stderr), or a reporter of the caller's (pytest's terminal).
Progress = bool | Reporter


def _progress_bar(profile: Profile, progress: Progress) -> RowProgress:
    if isinstance(progress, Reporter):
        reporter: Reporter | None = progress
    else:
        reporter = stderr_reporter() if progress else None
    return RowProgress(f"seeding {profile.name}", profile.content_rows, reporter)


def _holders(conn: Connection, key: int) -> list[int]:
    """Backend pids of the other sessions holding advisory lock ``key`` (any mode)."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    rows = conn.execute(
        text(
            "SELECT DISTINCT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid::bigint = :hi AND objid::bigint = :lo AND objsubid = 1 "
            "AND pid <> pg_backend_pid() ORDER BY pid"
        ),
        {"hi": unsigned >> 32, "lo": unsigned & 0xFFFFFFFF},
    )
    return [int(pid) for pid in rows.scalars()]


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@contextlib.contextmanager
def _dataset_lock(
    engine: Engine, *, wait: bool = True, say: Callable[[str], None] = _say
) -> Iterator[None]:
    """The dataset's lock, exclusively: the writer's side of the readers-writer lock.

    Serializes seeders of one schema (e.g. pytest-xdist workers: the second one waits, then
    finds the dataset complete and reuses it) and waits for every run measuring the dataset
    (``DatasetReader``, the shared side) to end, saying so once; ``wait=False`` refuses with
    DatasetBusyError instead.
    """
    with engine.connect() as conn:
        key = _lock_key(conn, "dataset")
        schema = _current_schema(conn)
        if not conn.execute(select(text(f"pg_try_advisory_lock({key})"))).scalar():
            pids = ", ".join(map(str, _holders(conn, key))) or "?"
            if not wait:
                raise DatasetBusyError(
                    f"the dataset in schema {schema!r} is in use by other ormbench sessions "
                    f"(server pids {pids}); reseeding now would change the data they measure: "
                    "wait for them to finish, or rerun without --no-wait to wait"
                )
            say(
                f"ormbench: the dataset in schema {schema!r} is in use by other ormbench "
                f"sessions (server pids {pids}); waiting for them to finish before seeding "
                "(Ctrl-C gives up)"
            )
            while not conn.execute(select(text(f"pg_try_advisory_lock({key})"))).scalar():
                conn.commit()
                time.sleep(LOCK_POLL_S)
        conn.commit()
        try:
            yield
        finally:
            # A connection lost with its server holds no lock any more: there is nothing to
            # release, and a second error here would hide the first one.
            with contextlib.suppress(DBAPIError):
                conn.execute(select(text(f"pg_advisory_unlock({key})")))
                conn.commit()


class DatasetReader:
    """A run's shared hold on its dataset for as long as it measures it: a reseed (which takes
    the same lock exclusively) waits until the run ends. ``check`` proves, before each figure
    is recorded, that the dataset is still the one the run opened."""

    def __init__(self, engine: Engine, expected_hash: str) -> None:
        self.expected_hash = expected_hash
        self.conn = engine.connect()
        try:
            self.schema = _current_schema(self.conn)
            self.key = _lock_key(self.conn, "dataset")
            # Waits while a seed holds the lock exclusively.
            self.conn.execute(select(text(f"pg_advisory_lock_shared({self.key})")))
            self.conn.commit()
        except BaseException:
            self.conn.close()
            raise

    def current_hash(self) -> str | None:
        """The fingerprint hash the schema's dataset marker holds now (None: no dataset)."""
        record = _meta_get(self.conn, META_DATASET)
        self.conn.commit()
        return str(record["hash"]) if record else None

    def check(self) -> None:
        """Raise DatasetChangedError unless the dataset is still the one this run opened."""
        now = self.current_hash()
        if now != self.expected_hash:
            raise DatasetChangedError(
                f"the dataset in schema {self.schema!r} changed during this run (fingerprint "
                f"{self.expected_hash} -> {now}): another process reseeded it without "
                "ormbench's lock; figures from here on would be mislabelled: rerun"
            )

    def close(self) -> None:
        with contextlib.suppress(DBAPIError):
            self.conn.execute(select(text(f"pg_advisory_unlock_shared({self.key})")))
            self.conn.commit()
        with contextlib.suppress(DBAPIError):
            self.conn.close()


def open_dataset(
    engine: Engine, profile: Profile, *, progress: Progress = False, wait: bool = True
) -> tuple[DatasetInfo, DatasetReader]:
    """Seed or reuse ``profile`` (``ensure_dataset``) and hold it for reading until the
    returned reader is closed. A reseed that slipped in between is seen and undone."""
    for _ in range(OPEN_ATTEMPTS):
        info = ensure_dataset(engine, profile, progress=progress, wait=wait)
        reader = DatasetReader(engine, info.fingerprint_hash)
        if reader.current_hash() == info.fingerprint_hash:
            return info, reader
        reader.close()
    raise DatasetChangedError(
        f"the dataset changed {OPEN_ATTEMPTS} times while this run opened it: another "
        "process keeps reseeding the schema with other settings; give each its own --pg-schema"
    )


def _timed(phases: dict[str, float], name: str) -> Callable[[], None]:
    started = time.perf_counter()

    def done() -> None:
        phases[name] = time.perf_counter() - started

    return done


def _seed(
    engine: Engine, profile: Profile, *, progress: Progress, wall: float, phases: dict[str, float]
) -> DatasetInfo:
    """The seed itself; the caller created the schema and holds the dataset lock."""
    fp = fingerprint(profile)
    steps: dict[str, float] = {}
    done = _timed(phases, "load")
    gen = Generator(profile)
    with engine.connect() as conn, _progress_bar(profile, progress) as bar:
        with conn.begin():
            conn.execute(text("SET LOCAL synchronous_commit = off"))
            stale = ormbench_meta.c.key.in_([META_DATASET, META_ROLES])
            conn.execute(ormbench_meta.delete().where(stale))
            _drop_bulk_constraints(conn)
            _truncate(conn)
            links = _load(conn, gen, phases, bar)
            _set_sequence(conn, profile.content_rows)
        done()
        bar.close()
        bar.note("building indexes, then VACUUM ANALYZE")
        done = _timed(phases, "index")
        _run_jobs(engine, _index_jobs(conn), steps)
        done()
        bar.note(f"indexes and statistics in {phases['index']:.1f} s")
    done = _timed(phases, "roles")
    with engine.begin() as conn:
        _meta_put(conn, META_ROLES, compute_roles(conn).to_json())
    done()
    seconds = time.perf_counter() - wall
    counts = {
        "users": profile.users,
        "tags": profile.tags,
        PARTITIONS[Source.ITEMS]: profile.items,
        PARTITIONS[Source.AUTO]: profile.auto,
        "content_tags": links,
    }
    record = {
        "fingerprint": fp,
        "hash": fingerprint_hash(fp),
        "counts": counts,
        "seconds": round(seconds, 3),
        "rows_per_second": round(profile.content_rows / seconds, 1),
        "phases": {name: round(value, 3) for name, value in phases.items()},
        "steps": {name: round(value, 3) for name, value in steps.items()},
    }
    done = _timed(phases, "mark")
    # The marker, alone in its transaction and last: the dataset is complete from here on.
    with engine.begin() as conn:
        _meta_put(conn, META_DATASET, record)
    done()
    return DatasetInfo(
        fingerprint=fp,
        fingerprint_hash=record["hash"],
        counts=counts,
        phases=phases,
        seconds=time.perf_counter() - wall,
        rows_per_second=profile.content_rows / seconds,
        reused=False,
        steps=steps,
    )


# -- reuse ------------------------------------------------------------------------------------


def _reusable(engine: Engine, fp: dict[str, Any]) -> dict[str, Any] | None:
    """The recorded dataset, if its fingerprint is ``fp`` and every table holds the row
    count recorded with it."""
    with engine.connect() as conn:
        record = _meta_get(conn, META_DATASET)
        if not record or record.get("fingerprint") != fp:
            return None
        if _count_rows(conn) != record["counts"]:
            return None
    return dict(record)


def ensure_dataset(
    engine: Engine, profile: Profile, *, progress: Progress = False, wait: bool = True
) -> DatasetInfo:
    """Reuse the dataset of ``profile`` if it is complete in ormbench's schema, else seed it.

    Complete means: the fingerprint marker equals ``fingerprint(profile)`` and every table
    holds the row count recorded with it. Anything else (no marker, another profile, knob,
    seed, schema or generator version, a seed interrupted part-way) truncates ormbench's
    tables and reseeds, after every run measuring the dataset has ended (``wait=False``:
    DatasetBusyError instead of waiting).
    """
    wall = time.perf_counter()
    create_schema(engine)
    phases = {"schema": time.perf_counter() - wall}
    fp = fingerprint(profile)
    done = _timed(phases, "check")
    record = _reusable(engine, fp)
    if record is None:
        with _dataset_lock(engine, wait=wait):
            record = _reusable(engine, fp)  # another process may have seeded meanwhile
            if record is None:
                return _seed(engine, profile, progress=progress, wall=wall, phases=phases)
    done()
    return DatasetInfo(
        fingerprint=fp,
        fingerprint_hash=record["hash"],
        counts=record["counts"],
        phases=phases,
        seconds=time.perf_counter() - wall,
        rows_per_second=float(record["rows_per_second"]),
        reused=True,
    )


def summary(profile: Profile, info: DatasetInfo) -> str:
    """The one line the ``ormbench seed`` command ends with."""
    content = info.content_rows
    links = info.counts.get("content_tags", 0)
    if info.reused:
        return (
            f"reused dataset {profile.name!r} ({info.fingerprint_hash}): {content:,} content rows "
            f"and {links:,} tag links already loaded; ready in {info.seconds:.2f} s"
        )
    phases = ", ".join(f"{name} {info.phases[name]:.1f} s" for name in ("load", "index"))
    return (
        f"seeded dataset {profile.name!r} ({info.fingerprint_hash}): {content:,} content rows "
        f"and {links:,} tag links in {info.seconds:.1f} s = {info.rows_per_second:,.0f} "
        f"content rows/s ({phases})"
    )


def seed_command(
    engine: Engine, profile: Profile, progress: Progress = True, wait: bool = True
) -> str:
    """Seed or reuse ``profile`` (the ``ormbench seed`` command); returns its summary line."""
    return summary(profile, ensure_dataset(engine, profile, progress=progress, wait=wait))
