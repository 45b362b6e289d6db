"""Long preparations report progress: rows/s and time left, in place on a terminal, plain
lines in a log, and through pytest's output capture."""

from __future__ import annotations

import uuid

from ormbench.pg import PgServer
from ormbench.pg.connect import connect
from ormbench.pg.schema import drop_owned_schema
from ormbench.report.progress import Reporter, RowProgress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_log_lines_say_rows_per_second_and_time_left():
    """Not a terminal: a first line, one line per interval with rate and time left, a last."""
    lines: list[str] = []
    clock = Clock()
    with RowProgress("seeding ci", 50_000, Reporter(lines.append), clock) as bar:
        clock.now += 1
        bar.update(5_000)  # within the interval: no line
        clock.now += 4
        bar.update(5_000)  # 5 s in: 10,000 rows at 2,000 rows/s, 20 s left
        clock.now += 20
        bar.update(40_000)
    assert lines == [
        "seeding ci: 50,000 rows to load",
        "seeding ci: 10,000/50,000 rows (20%), 2,000 rows/s, 20 s left",
        "seeding ci: 50,000/50,000 rows (100%), 2,000 rows/s, 0 s left",
        "seeding ci: 50,000 rows in 25.0 s (2,000 rows/s)",
    ]


def test_terminal_rewrites_one_line_and_clears_it():
    """On a terminal the line is rewritten in place, then cleared before a line of its own."""
    lines: list[str] = []
    rewrites: list[str] = []
    clock = Clock()
    bar = RowProgress("seeding tiny", 2_000, Reporter(lines.append, rewrites.append), clock)
    clock.now += 0.5
    bar.update(1_000)
    bar.close()
    bar.note("building indexes, then VACUUM ANALYZE")
    assert rewrites == ["seeding tiny: 1,000/2,000 rows (50%), 2,000 rows/s, 0 s left", ""]
    assert lines[-2:] == [
        "seeding tiny: 1,000 rows in 0.5 s (2,000 rows/s)",
        "seeding tiny: building indexes, then VACUUM ANALYZE",
    ]


def test_seeding_under_pytest_shows_through_capture(pg_pytester, pg_server: PgServer):
    """A pytest run that seeds prints its progress lines although output is captured."""
    schema = f"ormbench_t_{uuid.uuid4().hex[:10]}"
    pg_pytester.makepyfile("def test_seeded(dataset):\n    assert dataset.info.counts\n")
    try:
        result = pg_pytester.runpytest_subprocess(
            f"--pg-url={pg_server.url}", f"--pg-schema={schema}", "--dataset=tiny",
            "-p", "no:cacheprovider", timeout=300,
        )  # fmt: skip
    finally:
        with connect(pg_server, 5, autocommit=True) as conn:
            drop_owned_schema(conn, schema)
    result.assert_outcomes(passed=1)
    result.stdout.re_match_lines(
        [
            r"seeding tiny: 2,000 rows to load",
            r"seeding tiny: 2,000 rows in [\d.]+ s \([\d,]+ rows/s\)",
            r"seeding tiny: building indexes, then VACUUM ANALYZE",
            r"seeding tiny: indexes and statistics in [\d.]+ s",
        ]
    )
