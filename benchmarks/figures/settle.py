"""How a timed execution depends on the idle before it: the curve behind ``settle_ms``.

    python benchmarks/figures/settle.py [--scenario no_tag] [--page-size 10] [--rounds 300]

Times the floor (``dbapi_fetchall``) and a pure-Python step (``json.loads`` of the page as the
endpoint would serialize it) right after an idle gap of 0, 1, 3, 10 or 30 ms (sleep) or 10 ms
of busy Python, all gaps shuffled within each round so that drift lands on all of them alike.
It prints each median relative to the gap of 0 ms (back to back). Reads the server and dataset
from the usual settings (``eval "$(ormbench up)"`` first, so the dataset is reused).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable

from ormbench.config import resolve
from ormbench.jsonable import jsonable
from ormbench.measure.paired import FLOOR
from ormbench.strategies import get_strategy
from ormbench.workspace import open_case

# (kind, seconds) of the idle before each timed execution.
GAPS = [("sleep", 0.0), ("sleep", 0.001), ("sleep", 0.003), ("sleep", 0.010), ("sleep", 0.030)]
GAPS.append(("busy", 0.010))


def busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def curve(fn: Callable[[], object], rounds: int, rng: random.Random) -> dict[tuple, float]:
    """Median seconds of ``fn`` after each gap, the gaps shuffled per round."""
    times: dict[tuple, list[float]] = {gap: [] for gap in GAPS}
    for _ in range(rounds):
        order = GAPS[:]
        rng.shuffle(order)
        for kind, seconds in order:
            if kind == "busy":
                busy(seconds)
            elif seconds:
                time.sleep(seconds)
            start = time.perf_counter()
            fn()
            times[(kind, seconds)].append(time.perf_counter() - start)
    return {gap: statistics.median(ts) for gap, ts in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="no_tag")
    parser.add_argument("--page-size", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with open_case(resolve(), args.scenario, args.page_size) as (ctx, req):
        floor = get_strategy(FLOOR)
        page = floor(ctx, req)
        body = json.dumps(
            [jsonable(dict(zip(page.columns, row, strict=True))) for row in page.rows]
        )
        rng = random.Random(args.seed)
        for _ in range(5):
            floor(ctx, req)
        curves = {
            f"{FLOOR} {args.scenario} p{args.page_size}": curve(
                lambda: floor(ctx, req), args.rounds, rng
            ),
            "json.loads of that page": curve(lambda: json.loads(body), args.rounds, rng),
        }
    print(f"median after each idle gap, relative to back to back ({args.rounds} rounds)")
    print(f"{'':34}" + "".join(f"{kind} {s * 1e3:g} ms".rjust(14) for kind, s in GAPS))
    for name, medians in curves.items():
        base = medians[GAPS[0]]
        cells = "".join(f"{medians[g] / base:14.3f}" for g in GAPS)
        print(f"{name:34}{cells}   (0 ms: {base * 1e6:.0f} us)")


if __name__ == "__main__":
    main()
