"""``ormbench explain``: where the time of one page went, for the exact SQL that was sent.

For one strategy (or two, side by side, with ``--vs``) on one scenario and page size it
prints the SQL sent, the plan of each statement, the deterministic counters, the phase table
(warm; cold too with ``--cold``), and the verdict. ``--json`` prints one document of the
schema documented in docs/explain-json.md. The analysis, the comparison and the rendering
live in the library, ``ormbench.explain``: this module parses, calls and prints.
"""

from __future__ import annotations

import argparse
import json

from ormbench.cli import command
from ormbench.commands.page import case_arguments
from ormbench.config import Settings
from ormbench.errors import ConfigError
from ormbench.explain import analyze, compare, document, render, subject
from ormbench.measure.phases import (
    COLD_REPEATS,
    MAX_COLD_REPEATS,
    MAX_WARM_REPEATS,
    WARM_REPEATS,
)
from ormbench.strategies import load_strategy_modules
from ormbench.workspace import open_workspace

# A response path explains the page's loading, then its Pydantic validation and serialization.
_SUBJECT_HELP = (
    "a registered strategy, or a response path STRATEGY-RESPONSE as the response benchmarks "
    "name them (e.g. orm_scalars-pydantic)"
)


def _arguments(parser: argparse.ArgumentParser) -> None:
    case_arguments(parser, strategy_help=_SUBJECT_HELP)
    parser.add_argument(
        "--vs", metavar="STRATEGY", help="a second strategy or response path, side by side"
    )
    parser.add_argument("--json", action="store_true", help="one JSON document (see --help)")
    parser.add_argument(
        "--cold",
        action="store_true",
        help="also attribute a cold execution (fresh engine: new connection, empty cache)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help=(
            "executions per phase table, exactly (default: what fits a 2 s budget, "
            f"{WARM_REPEATS}-{MAX_WARM_REPEATS} warm, {COLD_REPEATS}-{MAX_COLD_REPEATS} cold, "
            "pooling more while the phases do not add up)"
        ),
    )


@command(
    "explain",
    "where one page's time goes (server, wire, JSON, ORM), for the exact SQL sent; "
    "--vs compares two strategies' SQL and plans",
    _arguments,
)
def cmd_explain(args: argparse.Namespace, settings: Settings) -> int:
    if settings.strategies_from:  # user strategies are explainable like built-in ones
        load_strategy_modules(settings.strategies_from.split(","))
    names = [args.strategy] + ([args.vs] if args.vs else [])
    for name in names:
        subject(name)  # an unknown name fails before any server starts
    if args.repeats is not None and args.repeats < 1:
        raise ConfigError(f"--repeats must be a positive integer, got {args.repeats}")
    loader = settings.json_loader[0]
    with open_workspace(settings) as ws:
        req = ws.request(args.scenario, args.page_size)
        reports = [
            analyze(ws, name, req, loader=loader, cold=args.cold, repeats=args.repeats)
            for name in names
        ]
    comparison = compare(reports[0], reports[1]) if len(reports) > 1 else None
    if args.json:
        print(json.dumps(document(settings, args.scenario, req, reports, comparison), indent=2))
    else:
        print(render(settings, args.scenario, req, reports, comparison))
    return 0
