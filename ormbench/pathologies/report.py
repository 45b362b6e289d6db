"""The pathology table: figures from a benchmark run, diagnosis lines from ``diagnose``.

``figures`` reads what ``benchmarks/test_pathologies.py`` stores in each benchmark's
``extra_info`` (live, or from ``--benchmark-json``); ``markdown_table`` renders one row per
pathology, the README's table.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ormbench.errors import UnusableInputError
from ormbench.measure.stats import median_ci
from ormbench.pathologies import PATHOLOGIES


@dataclass(frozen=True)
class Figures:
    """One pathology's measured figures: medians (ms) and the bad/fixed ratio with its CI."""

    pathology: str
    bad_ms: float
    fixed_ms: float
    ratio: float
    ratio_low: float
    ratio_high: float
    pairs: int


def figures(infos: Iterable[Mapping[str, Any]]) -> dict[str, Figures]:
    """Figures per pathology, pooled over its two benchmarks.

    Both are bad/fixed pairs, one with fixed run first in each round and one with bad first,
    so pooling them also cancels any effect of the order within a pair.
    """
    pooled: dict[str, dict[str, list[float]]] = {}
    for info in infos:
        if "pathology" not in info:
            continue
        samples = pooled.setdefault(info["pathology"], {"bad": [], "fixed": [], "ratio": []})
        samples["bad"] += info["bad_samples"]
        samples["fixed"] += info["fixed_samples"]
        samples["ratio"] += info["ratio_samples"]
    out: dict[str, Figures] = {}
    for name, samples in pooled.items():
        ratio = median_ci(samples["ratio"])
        out[name] = Figures(
            name,
            statistics.median(samples["bad"]) * 1e3,
            statistics.median(samples["fixed"]) * 1e3,
            ratio.median,
            ratio.low,
            ratio.high,
            ratio.n,
        )
    return out


def load_benchmark_json(path: Path) -> dict[str, Figures]:
    """Figures from a ``--benchmark-json`` file of the pathology benchmarks."""
    try:
        data = json.loads(path.read_text())
        found = figures(b["extra_info"] for b in data["benchmarks"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UnusableInputError(
            f"{path}: not a pytest-benchmark JSON file with ormbench figures ({exc}); write "
            "one with `pytest benchmarks/test_pathologies.py -m pathology --benchmark-only "
            "--benchmark-json FILE`"
        ) from None
    if not found:
        raise UnusableInputError(f"{path}: holds no pathology benchmark (run with -m pathology)")
    return found


def _ms(value: float) -> str:
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def markdown_table(found: Mapping[str, Figures], verdicts: Mapping[str, str]) -> str:
    """The README table: one row per pathology, figures and diagnosis where known."""
    lines = [
        "| # | pathology | mechanism | bad ms | fixed ms | bad / fixed [95% CI] | "
        "what `explain` printed (bad · bad vs fixed) |",
        "|---|---|---|---|---|---|---|",
    ]
    for pathology in PATHOLOGIES.values():
        f = found.get(pathology.name)
        if f is None:
            cells = ["", "", ""]
        else:
            cells = [
                _ms(f.bad_ms),
                _ms(f.fixed_ms),
                f"{f.ratio:,.1f}x [{f.ratio_low:,.1f}-{f.ratio_high:,.1f}] ({f.pairs} pairs)",
            ]
        verdict = verdicts.get(pathology.name, "").replace("|", "\\|")
        lines.append(
            f"| {pathology.number} | {pathology.title} | {pathology.mechanism} | "
            + " | ".join(cells)
            + f" | {verdict} |"
        )
    return "\n".join(lines)


__all__ = ["Figures", "figures", "load_benchmark_json", "markdown_table"]
