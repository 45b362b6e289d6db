"""``ormbench page``: the page one strategy returns, to check by hand and rerun in psql."""

from __future__ import annotations

import argparse
import json

from ormbench.cli import command
from ormbench.config import Settings
from ormbench.jsonable import jsonable
from ormbench.measure.capture import capture
from ormbench.query.scenarios import SCENARIOS
from ormbench.query.spec import ContentRequest, Page
from ormbench.strategies import StrategyContext, get_strategy
from ormbench.workspace import open_workspace


def case_arguments(
    parser: argparse.ArgumentParser,
    *,
    strategy: bool = True,
    strategy_help: str = "a registered strategy",
) -> None:
    """--scenario and --page-size (and --strategy), shared by page, explain and compare."""
    parser.add_argument("--scenario", default="canonical", help=f"one of {', '.join(SCENARIOS)}")
    parser.add_argument("--page-size", type=int, default=10, help="rows per page")
    if strategy:
        parser.add_argument("--strategy", default="orm_scalars", help=strategy_help)


def _page_arguments(parser: argparse.ArgumentParser) -> None:
    case_arguments(parser)
    parser.add_argument(
        "--json", action="store_true", help="the whole page, the request and the SQL sent"
    )


def page_document(req: ContentRequest, page: Page, strategy: str, statements: list) -> dict:
    return {
        "strategy": strategy,
        "request": req.to_query(),
        "columns": list(page.columns),
        "rows": [dict(zip(page.columns, jsonable(row), strict=True)) for row in page.rows],
        "total": page.total,
        "statements": [s.as_dict() for s in statements],
    }


@command(
    "page",
    "print the ids (or, with --json, the page and its SQL) one strategy returns",
    _page_arguments,
)
def cmd_page(args: argparse.Namespace, settings: Settings) -> int:
    strategy = get_strategy(args.strategy)
    with open_workspace(settings) as ws:
        req = ws.request(args.scenario, args.page_size)
        engine = ws.engine_for(settings.json_loader[0])
        try:
            with capture(engine) as captured:
                page = strategy(StrategyContext(engine), req)
        finally:
            engine.dispose()
    if args.json:
        doc = page_document(req, page, args.strategy, captured.statements)
        print(json.dumps(doc, indent=2))
    else:
        print(" ".join(str(i) for i in page.ids))
    return 0
