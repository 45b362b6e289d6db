"""Fidelity of paired ratios: pytest's paired figures against round-robin runs.

    python benchmarks/figures/fidelity.py --dataset ci --scenario canonical --page-size 10 \
        [--round-budget 2] [--budget 40]

Runs the pytest group once (paired rounds) and ``ormbench compare`` (shuffled round-robin) in
RUNS separate processes on the same server, then prints, per strategy, the paired ratio, the
round-robin ratios, their agreement and their spread. Start a kept server first
(``eval "$(ormbench up)"``) so every process reuses one seeded dataset.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from ormbench.measure.roundrobin import BUDGET_S

REPO = Path(__file__).resolve().parents[2]
# Separate round-robin processes whose spread is reported.
RUNS = 5


def paired(
    scenario: str, page_size: int, dataset: str, round_budget: float | None
) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run.json"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "benchmarks/test_strategies.py",
                "-q",
                "-k",
                f"{scenario}-p{page_size}-",
                "--benchmark-only",
                f"--dataset={dataset}",
                f"--benchmark-json={out}",
                "-p",
                "no:cacheprovider",
                *([f"--round-budget={round_budget}"] if round_budget else []),
            ],
            cwd=REPO,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        doc = json.loads(out.read_text())
    return {b["extra_info"]["strategy"]: b["extra_info"]["ratio"] for b in doc["benchmarks"]}


def round_robin(
    scenario: str, page_size: int, dataset: str, seed: int, budget: float
) -> dict[str, float]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ormbench",
            "compare",
            "--json",
            f"--scenario={scenario}",
            f"--page-size={page_size}",
            f"--dataset={dataset}",
            f"--seed={seed}",
            f"--budget={budget}",
        ],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    )
    return {r["strategy"]: r["ratio"]["median"] for r in json.loads(out.stdout)["strategies"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ci")
    parser.add_argument("--scenario", default="canonical")
    parser.add_argument("--page-size", type=int, default=10)
    parser.add_argument(
        "--round-budget", type=float, default=None, help="pytest's seconds per benchmark"
    )
    parser.add_argument(
        "--budget", type=float, default=BUDGET_S, help="seconds per round-robin run"
    )
    args = parser.parse_args()
    if not os.environ.get("ORMBENCH_PG_URL"):
        print('start a kept server first: eval "$(ormbench up)"', file=sys.stderr)
        return 2
    runs = [
        round_robin(args.scenario, args.page_size, args.dataset, seed, args.budget)
        for seed in range(RUNS)
    ]
    pytest_ratios = paired(args.scenario, args.page_size, args.dataset, args.round_budget)
    budget = f"--round-budget {args.round_budget:g}" if args.round_budget else "default budget"
    print(
        f"{args.scenario} p{args.page_size} on {args.dataset}: paired (pytest, {budget}) vs "
        f"{RUNS} round-robin runs of {args.budget:g} s"
    )
    print(
        f"{'strategy':<16} {'paired':>7} {'95% CI':>13} {'n':>5} {'rr mean':>8} {'agree':>7} "
        f"{'rr spread':>9}  rr runs"
    )
    worst_agree = worst_spread = 0.0
    for name, summary in sorted(pytest_ratios.items(), key=lambda kv: kv[1]["median"]):
        ratio = summary["median"]
        rr = [run[name] for run in runs]
        mean = statistics.fmean(rr)
        agree = ratio / mean - 1
        spread = (max(rr) - min(rr)) / mean
        worst_agree, worst_spread = max(worst_agree, abs(agree)), max(worst_spread, spread)
        ci = f"{summary['ci_low']:.3f}-{summary['ci_high']:.3f}"
        print(
            f"{name:<16} {ratio:7.3f} {ci:>13} {summary['n']:5d} {mean:8.3f} {agree:+7.1%} "
            f"{spread:9.1%}  " + " ".join(f"{r:.3f}" for r in rr)
        )
    print(f"worst agreement {worst_agree:.1%}, worst round-robin spread {worst_spread:.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
