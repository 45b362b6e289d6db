"""How noisy a paired ratio is in wall time and in CPU time, on the machine as it is now.

    python benchmarks/figures/cpu_noise.py [--scenario canonical] [--page-size 10] \
        [--strategy orm_scalars] [--rounds 300]

Runs settled paired rounds of the strategy and the floor (``dbapi_fetchall``), the floor first
in even rounds and last in odd ones as the benchmarks do, and times each execution twice: its
wall time and its CPU time (this thread plus the server backend: ``ormbench.measure.cpu``).
Prints, for each clock, the median paired ratio and the standard deviation of its logarithm
(the per-round noise the gate has to see through), plus ``uptime``'s load. Reads the server and
dataset from the usual settings (``eval "$(ormbench up)"`` first, so the dataset is reused).
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import statistics
import time

from ormbench.config import resolve
from ormbench.measure.cpu import CpuClock
from ormbench.measure.observe import warm
from ormbench.measure.paired import FLOOR
from ormbench.measure.settle import SETTLE_S, settle
from ormbench.measure.stats import median_ci
from ormbench.strategies import get_strategy
from ormbench.workspace import open_case

# Rounds per block: the gate's minimum rounds per look.
BLOCK = 40


def _half_width(ratios: list[float]) -> float:
    """Relative half-width of the order-statistic 95% interval of the median (as the gate's)."""
    ci = median_ci(ratios)
    return (ci.high - ci.low) / 2 / ci.median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="canonical")
    parser.add_argument("--page-size", type=int, default=10)
    parser.add_argument("--strategy", default="orm_scalars")
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    with open_case(resolve(), args.scenario, args.page_size) as (ctx, req):
        fns = {n: get_strategy(n) for n in (args.strategy, FLOOR)}
        runs = {n: functools.partial(fn, ctx, req) for n, fn in fns.items()}
        warm(*runs.values())
        clock = CpuClock(ctx.engine)
        wall: dict[str, list[float]] = {n: [] for n in runs}
        cpu: dict[str, list[float]] = {n: [] for n in runs}
        for i in range(args.rounds):
            order = [FLOOR, args.strategy] if i % 2 == 0 else [args.strategy, FLOOR]
            for name in order:
                settle(SETTLE_S)
                c0, w0 = clock.read(), time.perf_counter()
                page = runs[name]()
                w1, c1 = time.perf_counter(), clock.read()
                del page
                wall[name].append(w1 - w0)
                cpu[name].append(CpuClock.seconds(c0, c1) or math.nan)
    print(f"{args.scenario} p{args.page_size} {args.strategy} vs {FLOOR}, {args.rounds} rounds")
    for clock_name, times in (("wall", wall), ("cpu", cpu)):
        ratios = [t / f for t, f in zip(times[args.strategy], times[FLOOR], strict=True)]
        if any(math.isnan(r) for r in ratios):
            print(f"{clock_name}: unavailable (a backend could not be proven ours)")
            continue
        logs = [math.log(r) for r in ratios]
        blocks = [ratios[i : i + BLOCK] for i in range(0, len(ratios) - BLOCK + 1, BLOCK)]
        widths = [_half_width(b) for b in blocks]
        print(
            f"{clock_name:>4}: median ratio {statistics.median(ratios):.3f}, "
            f"sd of log ratio {statistics.stdev(logs):.3f}, "
            f"95% interval of the median of {BLOCK} rounds ±{statistics.median(widths):.1%}, "
            f"floor median {statistics.median(times[FLOOR]) * 1e3:.3f} ms"
        )
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
