"""Server subcommands: keep a server between runs."""

from __future__ import annotations

import argparse
import sys
import time

from ormbench.cli import command
from ormbench.config import Settings
from ormbench.pg import keep
from ormbench.pg.redact import redact
from ormbench.pg.server import psql_url


@command("up", "start (or find) a kept server and print `export ORMBENCH_PG_URL=...`")
def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    started = time.perf_counter()
    server = keep.up(settings)
    # stderr may be a log: the password goes only to stdout, into the shell's environment.
    print(
        f"ormbench: kept {server.backend} server, PostgreSQL {server.server_version}, "
        f"ready in {time.perf_counter() - started:.2f}s; psql {redact(psql_url(server))!r} "
        "(password in ORMBENCH_PG_URL); remove it with `ormbench down`",
        file=sys.stderr,
    )
    print(f"export ORMBENCH_PG_URL='{server.url}'")
    return 0


def _down_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--orphans",
        action="store_true",
        help="instead: stop the clusters of runs that died without stopping them (kill -9)",
    )


@command("down", "stop and remove the server kept by `ormbench up`", _down_arguments)
def cmd_down(args: argparse.Namespace, settings: Settings) -> int:
    if args.orphans:
        reaped = keep.down_orphans()
        for line in reaped:
            print(f"ormbench: {line}", file=sys.stderr)
        print(f"ormbench: {len(reaped)} orphaned cluster(s) reaped", file=sys.stderr)
        return 0
    print(f"ormbench: {keep.down()}", file=sys.stderr)
    return 0
