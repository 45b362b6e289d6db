"""pytest hooks that keep a session's failures honest on a shared machine.

* A setup or usage error (any ``OrmbenchError``, or ``pytest.UsageError``, raised while a
  fixture is set up) ends the session once, with one line and exit code 4, instead of one
  error per test that uses the fixture.
* A server that dies mid-run ends the session with one line saying so (exit code 3), instead
  of a traceback per remaining test.
* No password reaches the terminal: failure reports and captured output are redacted
  (:mod:`ormbench.pg.redact`), whatever frame or log line carried the password.

Registered by the plugin (``ormbench.plugin``).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import psycopg
import pytest
from sqlalchemy.exc import DBAPIError

from ormbench.errors import OrmbenchError
from ormbench.pg.redact import redact
from ormbench.plugin import SESSION_KEY

# pytest's exit code when ormbench cannot set up (also what pytest.UsageError gives).
EXIT_SETUP = pytest.ExitCode.USAGE_ERROR
# Exit code when the server went away under a running session (the ormbench command's too).
EXIT_SERVER_DIED = 3
# Seconds the probe of a possibly dead server may take.
PROBE_TIMEOUT_S = 2


def end_session(message: str, returncode: int = EXIT_SETUP) -> None:
    """End the whole session now with one line: ``ormbench: message``."""
    pytest.exit(f"ormbench: {redact(message)}", returncode=returncode)


def server_death(config: pytest.Config, exc: BaseException) -> str | None:
    """If ``exc`` is a database error and the session's server no longer answers, why not."""
    if not isinstance(exc, DBAPIError | psycopg.Error):
        return None
    state = config.stash.get(SESSION_KEY, None)
    server = None if state is None else state.server
    if server is None:
        return None
    try:
        with psycopg.connect(server.conninfo, connect_timeout=PROBE_TIMEOUT_S) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as probe:
        detail = " ".join(str(probe).split())
        return (
            f"the PostgreSQL server at {server.host}:{server.port} ({server.backend}) died "
            f"mid-run and no longer answers ({detail}); the session stops here: restart it "
            "(ormbench up, or rerun for a throwaway one) and rerun"
        )
    return None


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: Any, request: pytest.FixtureRequest) -> Generator[None]:
    try:
        return (yield)
    except OrmbenchError as exc:
        end_session(str(exc))
        raise
    except pytest.UsageError as exc:
        end_session(str(exc))
        raise
    except Exception as exc:
        died = server_death(request.config, exc)
        if died:
            end_session(died, EXIT_SERVER_DIED)
        raise


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None]:
    report = yield
    if call.excinfo is not None and report.failed:
        died = server_death(item.config, call.excinfo.value)
        if died:
            end_session(died, EXIT_SERVER_DIED)
    return _redacted(report)


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None]:
    return _redacted((yield))


def _redacted(report: Any) -> Any:
    """``report`` with every known password masked in its traceback and captured output."""
    if report.longrepr is not None:
        text = str(report.longrepr)
        masked = redact(text)
        if masked != text:
            report.longrepr = masked
    report.sections = [(title, redact(content)) for title, content in report.sections]
    return report
