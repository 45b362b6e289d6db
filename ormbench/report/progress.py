"""Progress of long preparations (seeding), shown on a terminal or as plain lines in a log.

A ``Reporter`` says where lines go: ``write`` prints a finished line, ``rewrite`` (terminals
only) replaces the line in progress. ``stderr_reporter`` serves the command line; the pytest
fixtures build one on pytest's terminal, so progress shows through output capture.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

# Seconds between two progress lines in a log (not a terminal): a few lines per minute.
LOG_INTERVAL_S = 5.0
# Seconds between two rewrites of the progress line on a terminal.
TTY_INTERVAL_S = 0.25


@dataclass(frozen=True)
class Reporter:
    """Where progress goes: finished lines, and a line rewritten in place on a terminal."""

    write: Callable[[str], None]
    rewrite: Callable[[str], None] | None = None


def stderr_reporter() -> Reporter:
    """Progress on stderr: rewritten in place on a terminal, plain lines otherwise."""

    def write(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    def rewrite(line: str) -> None:
        sys.stderr.write("\r\x1b[K" + line)
        sys.stderr.flush()

    return Reporter(write, rewrite if sys.stderr.isatty() else None)


class RowProgress:
    """Rows loaded toward a total: rows/s and time left, at a pace the output can take."""

    def __init__(
        self,
        desc: str,
        total: int,
        reporter: Reporter | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.desc = desc
        self.total = total
        self.done = 0
        self.reporter = reporter
        self.clock = clock
        self.start = clock()
        self.last = self.start
        self.rewritten = False
        self.closed = False
        if reporter is not None:
            reporter.write(f"{desc}: {total:,} rows to load")

    def line(self) -> str:
        """``seeding ci: 20,000/50,000 rows (40%), 9,800 rows/s, 3 s left``."""
        elapsed = max(self.clock() - self.start, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        pct = 100 * self.done / self.total if self.total else 100.0
        eta = f"{left:,.0f} s left" if left != float("inf") else "time left unknown"
        counts = f"{self.done:,}/{self.total:,} rows ({pct:.0f}%)"
        return f"{self.desc}: {counts}, {rate:,.0f} rows/s, {eta}"

    def update(self, rows: int) -> None:
        self.done += rows
        if self.reporter is None:
            return
        now = self.clock()
        if self.reporter.rewrite is not None:
            if now - self.last >= TTY_INTERVAL_S:
                self.reporter.rewrite(self.line())
                self.rewritten = True
                self.last = now
        elif now - self.last >= LOG_INTERVAL_S:
            self.reporter.write(self.line())
            self.last = now

    def note(self, text: str) -> None:
        """A phase of its own (e.g. building indexes), on a line of its own."""
        if self.reporter is None:
            return
        self._end_rewrite()
        self.reporter.write(f"{self.desc}: {text}")

    def _end_rewrite(self) -> None:
        if self.rewritten and self.reporter is not None and self.reporter.rewrite is not None:
            self.reporter.rewrite("")
            self.rewritten = False

    def close(self) -> None:
        """The last line: rows, seconds and rows/s of the whole load (once)."""
        if self.reporter is None or self.closed:
            return
        self.closed = True
        self._end_rewrite()
        elapsed = max(self.clock() - self.start, 1e-9)
        rate = self.done / elapsed
        summary = f"{self.done:,} rows in {elapsed:.1f} s ({rate:,.0f} rows/s)"
        self.reporter.write(f"{self.desc}: {summary}")

    def __enter__(self) -> RowProgress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._end_rewrite()
