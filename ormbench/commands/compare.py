"""``ormbench compare``: strategies interleaved round-robin, as ratios to the floor."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ormbench.cli import command
from ormbench.commands.page import case_arguments
from ormbench.config import Settings
from ormbench.errors import ConfigError
from ormbench.measure.paired import FLOOR
from ormbench.measure.roundrobin import BUDGET_S, round_robin
from ormbench.report.recommend import recommend, render_recommendation
from ormbench.response.paths import FLOOR_PATH
from ormbench.response.roundrobin import response_functions, response_results
from ormbench.strategies import STRATEGIES, StrategyContext, get_strategy, label
from ormbench.workspace import open_workspace


def _arguments(parser: argparse.ArgumentParser) -> None:
    case_arguments(parser, strategy=False)
    parser.add_argument(
        "--strategies", default="", help="comma-separated strategies (default: all registered)"
    )
    parser.add_argument(
        "--rounds", type=int, default=None, help="timed rounds (default: as many as --budget fits)"
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=BUDGET_S,
        help=f"seconds of timed rounds when --rounds is not given (default {BUDGET_S:g})",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the per-round shuffle")
    parser.add_argument(
        "--responses",
        action="store_true",
        help="also time the response paths chosen by --response, in the same rounds (ratios "
        "to dbapi_fetchall plus orjson), and print the recommendation",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")


@command("compare", "time strategies interleaved round-robin in shuffled order", _arguments)
def cmd_compare(args: argparse.Namespace, settings: Settings) -> int:
    names = [s for s in args.strategies.split(",") if s] or list(STRATEGIES)
    if FLOOR not in names:
        names.append(FLOOR)
    strategies = {name: get_strategy(name) for name in names}
    if args.rounds is not None and args.rounds < 6:
        raise ConfigError(f"--rounds {args.rounds} is too few for a 95% interval; use 6 or more")
    if args.budget <= 0:
        raise ConfigError(f"--budget {args.budget:g} must be a positive number of seconds")
    with open_workspace(settings) as ws:
        req = ws.request(args.scenario, args.page_size)
        engine = ws.engine_for(settings.json_loader[0])
        ctx = StrategyContext(engine)
        try:
            fns = {name: (lambda fn=fn: fn(ctx, req)) for name, fn in strategies.items()}
            # Whether a page can serve the endpoint (load_only's cannot): for the recommendation.
            full = {name: fn().columns == req.columns for name, fn in fns.items()}
            kinds = settings.response if args.responses else ()
            with response_functions(ctx, req, kinds) as bodies:
                result = round_robin(
                    {**fns, **(bodies if args.responses else {})},
                    FLOOR,
                    args.rounds,
                    args.seed,
                    args.budget,
                    settings.settle_ms / 1e3,
                )
        finally:
            engine.dispose()
    rows = []
    for name in names:
        ratio = result.ratio(name)
        rows.append(
            {
                "strategy": name,
                "median_ms": result.median(name) * 1e3,
                "ratio": ratio.as_dict(),
                "label": label(strategies[name]),
                "full_page": full[name],
            }
        )
    loader = settings.json_loader[0]
    responses = (
        response_results(result, bodies, args.scenario, args.page_size, loader)
        if args.responses
        else []
    )
    case = {"scenario": args.scenario, "page_size": args.page_size, "json_loader": loader}
    ranked = [{**case, **r} for r in rows] + responses
    if args.json:
        doc = {
            "scenario": args.scenario,
            "page_size": args.page_size,
            "rounds": result.rounds,
            "strategies": rows,
        }
        if args.responses:
            doc["responses"] = responses
            doc["recommendation"] = [
                {
                    "level": pick.level,
                    "fastest": pick.fastest["strategy"],
                    "ratio": pick.fastest["ratio"],
                    "production": pick.production["strategy"] if pick.production else None,
                    "production_ratio": pick.production["ratio"] if pick.production else None,
                }
                for picks in recommend(ranked).values()
                for pick in picks
            ]
        print(json.dumps(doc, indent=2))
        return 0
    print(f"{args.scenario} p{args.page_size}: {result.rounds} shuffled rounds, ratio to {FLOOR}")
    _print_ratios(rows)
    if args.responses:
        print(f"responses, ratio to {FLOOR_PATH} in the same rounds")
        _print_ratios(responses)
        print("recommendation: the fastest correct path, next to production")
        print(render_recommendation(ranked))
    return 0


def _print_ratios(rows: list[dict[str, Any]]) -> None:
    """One line per strategy or path, fastest first: median ms, ratio [95% CI], label."""
    width = max(len(r["strategy"]) for r in rows)
    for r in sorted(rows, key=lambda r: r["ratio"]["median"]):
        q = r["ratio"]
        print(
            f"  {r['strategy']:<{width}}  {r['median_ms']:8.3f} ms  {q['median']:5.2f} "
            f"[{q['ci_low']:.2f}-{q['ci_high']:.2f}]  {r['label']}"
        )
