"""Data subcommands: seed (or reuse) a dataset on any server."""

from __future__ import annotations

import argparse

from ormbench.cli import command
from ormbench.config import Settings, parse_overrides
from ormbench.data.profiles import get_profile
from ormbench.data.seed import seed_command
from ormbench.db import make_engine, prepare_schema
from ormbench.workspace import open_server


def _seed_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-wait",
        action="store_true",
        help="refuse (exit 6) instead of waiting when runs are measuring the dataset to replace",
    )


@command(
    "seed",
    "seed (or reuse) --dataset on the server and print rows, seconds and rows/s",
    _seed_arguments,
)
def cmd_seed(args: argparse.Namespace, settings: Settings) -> int:
    profile = get_profile(settings.dataset, parse_overrides(settings.dataset_set))
    with open_server(settings) as server:
        prepare_schema(server, settings.pg_schema, settings.pg_connect_timeout)
        engine = make_engine(server, settings.pg_schema)
        try:
            print(seed_command(engine, profile, progress=True, wait=not args.no_wait))
        finally:
            engine.dispose()
    return 0
