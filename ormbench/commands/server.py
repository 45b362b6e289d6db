"""Server subcommands: keep a server between runs."""

from __future__ import annotations

import argparse
import sys
import time

from ormbench.cli import command
from ormbench.config import Settings
from ormbench.pg import keep
from ormbench.pg.server import psql_url


@command("up", "start (or find) a kept server and print `export ORMBENCH_PG_URL=...`")
def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    started = time.perf_counter()
    server = keep.up(settings)
    print(
        f"ormbench: kept {server.backend} server, PostgreSQL {server.server_version}, "
        f"ready in {time.perf_counter() - started:.2f}s; psql {psql_url(server)!r}; "
        "remove it with `ormbench down`",
        file=sys.stderr,
    )
    print(f"export ORMBENCH_PG_URL='{server.url}'")
    return 0


@command("down", "stop and remove the server kept by `ormbench up`")
def cmd_down(args: argparse.Namespace, settings: Settings) -> int:
    print(f"ormbench: {keep.down()}", file=sys.stderr)
    return 0
