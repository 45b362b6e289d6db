"""The ``ormbench`` command: keep a server, seed, and inspect pages, plans and runs.

Every subcommand takes the same server and dataset options as the pytest plugin, resolved the
same way (option > env > ini > default). A user mistake prints one line and exits non-zero.
"""

from __future__ import annotations

import argparse
import configparser
import importlib
import logging
import os
import signal
import sys
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

from ormbench import __version__
from ormbench.config import SETTINGS, Settings, resolve
from ormbench.errors import EXIT_SERVER, OrmbenchError

Command = Callable[[argparse.Namespace, Settings], int]
COMMANDS: dict[str, tuple[str, Command, Callable[[argparse.ArgumentParser], None]]] = {}


def command(name: str, help: str, args: Callable[[argparse.ArgumentParser], None] = lambda p: None):
    """Register a subcommand: its help, its own arguments, and its function."""

    def wrap(fn: Command) -> Command:
        COMMANDS[name] = (help, fn, args)
        return fn

    return wrap


def read_ini(cwd: Path | None = None) -> dict[str, str]:
    """ormbench's keys from the pytest ini of the current directory (pytest.ini or pyproject)."""
    cwd = cwd or Path.cwd()
    names = {s.ini for s in SETTINGS}
    if (cwd / "pytest.ini").is_file():
        parser = configparser.ConfigParser()
        parser.read(cwd / "pytest.ini")
        if parser.has_section("pytest"):
            return {k: v for k, v in parser.items("pytest") if k in names}
    if (cwd / "pyproject.toml").is_file():
        with open(cwd / "pyproject.toml", "rb") as f:
            data = tomllib.load(f)
        ini = data.get("tool", {}).get("pytest", {}).get("ini_options", {})
        return {k: str(v) for k, v in ini.items() if k in names}
    return {}


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("server and dataset")
    for s in SETTINGS:
        group.add_argument(s.option, dest=s.name, default=None, help=f"{s.help} [env {s.env}]")
    parser = argparse.ArgumentParser(
        prog="ormbench", description="What loading a page through SQLAlchemy really costs."
    )
    parser.add_argument("--version", action="version", version=f"ormbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, _fn, add_args) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text, parents=[common])
        add_args(p)
    return parser


def _sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwind, so that servers and temp dirs are removed


def main(argv: Sequence[str] | None = None) -> int:
    _load_commands()
    parser = build_parser()
    args = parser.parse_args(argv)
    # Commands stop what they start through context managers (workspace.open_server); SIGTERM
    # unwinds them like Ctrl-C. Only this call's own handler is restored: main() may run
    # in-process (tests, python -m ormbench.pathologies) beside servers it must not touch.
    previous = signal.signal(signal.SIGTERM, _sigterm)
    # psycopg logs the secondary errors of its clean-up after a lost connection ("error ignored
    # terminating <psycopg.Copy>") as warnings; with no handler configured, logging would print
    # them to stderr beside the one line that says what happened.
    psycopg_log = logging.getLogger("psycopg")
    if not psycopg_log.handlers:
        psycopg_log.addHandler(logging.NullHandler())
    try:
        settings = resolve(
            options={s.name: getattr(args, s.name) for s in SETTINGS},
            env=os.environ,
            ini=read_ini(),
        )
        if settings.strategies_from:
            # page, compare and explain accept a user strategy by name, as the benchmarks do.
            from ormbench.strategies import load_strategy_modules

            load_strategy_modules(settings.strategies_from.split(","))
        return COMMANDS[args.command][1](args, settings)
    except OrmbenchError as exc:
        from ormbench.pg.redact import redact

        print(f"ormbench: {redact(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("ormbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader left (`ormbench page --json | head`): stop quietly, as cat does. What is
        # still buffered for stdout goes to /dev/null, or Python's exit would report it.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 128 + getattr(signal, "SIGPIPE", 13)
    except Exception as exc:
        lost = lost_server(exc)
        if lost is None:
            raise
        print(f"ormbench: {lost}", file=sys.stderr)
        return EXIT_SERVER
    finally:
        signal.signal(signal.SIGTERM, previous)


def lost_server(exc: BaseException) -> str | None:
    """One line for a connection to PostgreSQL lost mid-command; None for any other error."""
    import psycopg
    from sqlalchemy.exc import InterfaceError, OperationalError

    from ormbench.pg.redact import redact

    orig = getattr(exc, "orig", None) if isinstance(exc, OperationalError | InterfaceError) else exc
    if not isinstance(orig, psycopg.OperationalError | psycopg.InterfaceError):
        return None
    detail = " ".join(str(orig).split())[:300]
    return redact(
        f"lost the connection to PostgreSQL mid-command ({detail}); check that the server "
        "still runs (ormbench up prints it again), then rerun"
    )


# Modules of ormbench.commands; each registers its subcommands when imported.
COMMAND_MODULES = ("server", "data", "page", "compare", "explain", "gate", "pathologies")


def _load_commands() -> None:
    # Imported here, not at module top, because the command modules import this one.
    for name in COMMAND_MODULES:
        importlib.import_module(f"ormbench.commands.{name}")
