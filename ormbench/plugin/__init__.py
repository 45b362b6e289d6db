"""The pytest plugin: options, the session's server, its fixtures and the opt-in markers.

Loaded through the ``pytest11`` entry point, so any repository that installs ormbench gets it
whole: the fixtures live in this package (``postgres``: the server and its engines,
``dataset``: the seeded data, ``bench``: the paired benchmark and the summary, ``responses``:
the paired response benchmark), registered below through ``pytest_plugins``. The server is
provisioned by the session-scoped ``pg_server`` fixture, so a run of pure unit tests starts no
PostgreSQL; ``ormbench.guard`` ends a session whose setup fails or whose server dies.
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass
from types import FrameType
from typing import Any

import pytest
from _pytest.mark.expression import Expression

from ormbench.config import SETTINGS, Settings, resolve
from ormbench.errors import OrmbenchError
from ormbench.pg import PgServer, provision_explained
from ormbench.runinfo import protocol, versions

# Registered with this module (pytest imports each once, by name, whatever else lists it).
pytest_plugins = [
    "ormbench.guard",
    "ormbench.plugin.postgres",
    "ormbench.plugin.dataset",
    "ormbench.plugin.bench",
    "ormbench.plugin.responses",
]
# The ini option listing markers whose tests run only when ``-m`` selects them.
OPT_IN_INI = "ormbench_opt_in_markers"


@dataclass
class OrmbenchSession:
    """Per-session state: the settings and, once needed, the server."""

    settings: Settings
    server: PgServer | None = None
    why: str = ""
    # Whether the header lines describing the server were printed.
    announced: bool = False
    # The gate's report for --ormbench-compare, printed in the terminal summary.
    compare_report: str = ""
    _previous_sigterm: Any = None

    def get_server(self) -> PgServer:
        if self.server is None:
            self.server, self.why = provision_explained(self.settings)
        return self.server

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


SESSION_KEY = pytest.StashKey[OrmbenchSession]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ormbench", "ormbench: PostgreSQL and datasets")
    for s in SETTINGS:
        where = f"[env {s.env}, ini {s.ini}, default {s.default!r}]"
        group.addoption(s.option, dest=f"ormbench_{s.name}", default=None, help=f"{s.help} {where}")
        parser.addini(s.ini, help=s.help, default=None)
    parser.addini(
        OPT_IN_INI,
        type="args",
        default=[],
        help="markers whose tests are off unless the -m expression selects them by name "
        "(slow or big variants)",
    )
    group.addoption(
        "--ormbench-compare",
        metavar="RUN",
        default=None,
        help="at the end, print `ormbench gate RUN <this run>`'s verdict (the paired ratios, "
        "significance tested) and exit 1 on a regression; RUN: a pytest-benchmark run id "
        "(0001, looked up in --benchmark-storage) or a --benchmark-json file",
    )


def settings_from_config(config: pytest.Config) -> Settings:
    """Resolve settings: option > env > ini > default (fixture arguments come later)."""
    options = {s.name: config.getoption(f"ormbench_{s.name}") for s in SETTINGS}
    ini = {s.name: config.getini(s.ini) for s in SETTINGS}
    try:
        return resolve(options=options, env=os.environ, ini=ini)
    except OrmbenchError as exc:
        raise pytest.UsageError(str(exc)) from None


def _sigterm_to_interrupt(signum: int, frame: FrameType | None) -> None:
    # pytest unwinds a KeyboardInterrupt through every fixture's teardown; a bare SIGTERM would
    # kill the process and leave the server and its temp dir behind.
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    state = OrmbenchSession(settings_from_config(config))
    config.stash[SESSION_KEY] = state
    if hasattr(signal, "SIGTERM") and _is_main_thread():
        state._previous_sigterm = signal.signal(signal.SIGTERM, _sigterm_to_interrupt)


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(SESSION_KEY, None)
    if state is None:
        return
    state.stop()
    if state._previous_sigterm is not None and _is_main_thread():
        signal.signal(signal.SIGTERM, state._previous_sigterm)


def _is_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def session_state(config: pytest.Config) -> OrmbenchSession:
    return config.stash[SESSION_KEY]


def server_lines(state: OrmbenchSession) -> list[str]:
    """Header lines: the backend and why, the server version and the settings that shape plans."""
    server = state.get_server()
    settings = " ".join(f"{k}={v}" for k, v in server.settings.items())
    return [
        f"ormbench: {server.describe()} [{state.why}]",
        f"ormbench: server settings: {settings}",
    ]


def announce(config: pytest.Config, state: OrmbenchSession) -> None:
    """Print the server's header lines once, on pytest's terminal past output capture."""
    if state.announced:
        return
    state.announced = True
    tr = config.pluginmanager.get_plugin("terminalreporter")
    if tr is None:
        return
    capman = config.pluginmanager.get_plugin("capturemanager")
    with capman.global_and_fixture_disabled() if capman else contextlib.nullcontext():
        tr.ensure_newline()
        for line in server_lines(state):
            tr.write_line(line)


def _evaluates(expression: Expression, names: set[str]) -> bool:
    return expression.evaluate(lambda name, /, **kwargs: name in names)


def opted_out(markexpr: str, item_markers: set[str], opt_in: set[str]) -> bool:
    """Whether an item carrying opt-in markers stays off: ``markexpr`` would select it just as
    well without one of them, i.e. the expression does not ask for that marker."""
    mine = item_markers & opt_in
    if not mine:
        return False
    if not markexpr:
        return True
    expression = Expression.compile(markexpr)
    return any(_evaluates(expression, item_markers - {m}) for m in mine)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Opt-in markers (ini ``ormbench_opt_in_markers``): their tests run only when selected."""
    opt_in = set(config.getini(OPT_IN_INI))
    if not opt_in:
        return
    markexpr = config.getoption("markexpr") or ""
    keep, drop = [], []
    for item in items:
        names = {m.name for m in item.iter_markers()}
        (drop if opted_out(markexpr, names, opt_in) else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _comparing_with_server_runs(config: pytest.Config) -> bool:
    """Whether pytest-benchmark is loading saved runs for --benchmark-compare right now (it does
    in pytest_configure, before any test) and one of them records a server."""
    bs = getattr(config, "_benchmarksession", None)
    if bs is None or not bs.compare or bs.compared_mapping is not None:
        return False
    runs = list(bs.storage.load())[-1:] if bs.compare is True else list(bs.storage.load(bs.compare))
    return any(
        ((doc.get("machine_info") or {}).get("ormbench") or {}).get("server") for _, doc in runs
    )


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    """Every saved run records what its figures depend on (the gate refuses mismatches).

    pytest-benchmark compares machine_info with the saved runs' before any test has started the
    server; the server is started then, so that both read the same and nothing warns.
    """
    state = config.stash.get(SESSION_KEY, None)
    if state is not None and state.server is None and _comparing_with_server_runs(config):
        try:
            state.get_server()
        except OrmbenchError as exc:
            raise pytest.UsageError(str(exc)) from None
    info: dict[str, Any] = {"versions": versions()}
    if state is not None:
        # The turn-taking plugin (ormbench/gate/turns.py) may be loaded under another name
        # (perf.yml copies it); its option is what tells that rounds alternated.
        info["protocol"] = protocol(
            settle_ms=state.settings.settle_ms,
            round_budget=state.settings.round_budget,
            min_rounds=state.settings.min_rounds,
            turns=config.getoption("turns_dir", None) is not None,
        )
    if state is not None and state.server is not None:
        server = state.server
        info["server"] = {
            "backend": server.backend,
            "version": server.server_version,
            "settings": dict(server.settings),
        }
    machine_info["ormbench"] = info


def gate_against(config: pytest.Config, base: str) -> tuple[str, int]:
    """This session's benchmarks judged by the gate against ``base``: the report and the exit
    code it asks for (0, 1 on a regression, 4 on unusable input, 5 when undecided)."""
    import tempfile
    from pathlib import Path

    from pytest_benchmark.utils import safe_dumps

    from ormbench.errors import EXIT_INCONCLUSIVE, UnusableInputError
    from ormbench.gate.config import load_config
    from ormbench.gate.report import render
    from ormbench.gate.runs import load_run
    from ormbench.gate.sides import load_side
    from ormbench.gate.tiers import compare

    bs = getattr(config, "_benchmarksession", None)
    if bs is None or not bs.benchmarks:
        return (
            "ormbench gate: INCONCLUSIVE, no benchmark ran in this session\n",
            EXIT_INCONCLUSIVE,
        )
    doc = config.hook.pytest_benchmark_generate_json(
        config=config,
        benchmarks=bs.benchmarks,
        include_data=False,
        machine_info=bs.get_machine_info(),
        commit_info=config.hook.pytest_benchmark_generate_commit_info(config=config),
    )
    try:
        with tempfile.TemporaryDirectory(prefix="ormbench-compare-") as tmp:
            path = Path(tmp) / "this-session.json"
            path.write_text(safe_dumps(doc, ensure_ascii=True, indent=2))
            head = load_run(path)
        base_run = load_side([Path(base)], config.getoption("benchmark_storage"))
        result = compare(base_run, head, load_config(None), allow_env_change=False)
    except UnusableInputError as exc:
        return f"ormbench gate: {exc}\n", exc.exit_code
    return render(result), result.exit_code


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """--ormbench-compare: judge this run once pytest-benchmark has finished with it."""
    base = session.config.getoption("ormbench_compare", None)
    state = session.config.stash.get(SESSION_KEY, None)
    if not base or state is None:
        return
    state.compare_report, code = gate_against(session.config, base)
    if code and session.exitstatus == 0:
        session.exitstatus = code


@pytest.hookimpl(wrapper=True)
def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> Any:
    """The --ormbench-compare verdict, last: after every table of the run it judges."""
    result = yield
    state = config.stash.get(SESSION_KEY, None)
    if state is not None and state.compare_report:
        terminalreporter.write_sep(
            "-", f"ormbench gate: {config.getoption('ormbench_compare')} vs this run"
        )
        terminalreporter.write(state.compare_report)
    return result
