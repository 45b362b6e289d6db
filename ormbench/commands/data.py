"""Data subcommands: seed (or reuse) a dataset on any server."""

from __future__ import annotations

import argparse

from ormbench.cli import command
from ormbench.config import Settings
from ormbench.data.seed import seed_command
from ormbench.workspace import configured_profile, open_server, schema_engine


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
    profile = configured_profile(settings)
    with open_server(settings) as server:
        engine = schema_engine(server, settings)
        try:
            print(seed_command(engine, profile, progress=True, wait=not args.no_wait))
        finally:
            engine.dispose()
    return 0
