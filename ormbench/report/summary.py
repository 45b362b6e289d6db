"""The end-of-session summary: per scenario, strategy x page size as the ratio to the floor."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from ormbench.strategies import STRATEGIES, label


def render_summary(results: Iterable[Mapping[str, Any]]) -> str:
    """One table per (scenario, loader): rows are strategies, columns page sizes."""
    tables: dict[tuple[str, str], dict[str, dict[int, Mapping[str, Any]]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for r in results:
        tables[(r["scenario"], r["json_loader"])][r["strategy"]][r["page_size"]] = r
    order = {name: i for i, name in enumerate(STRATEGIES)}
    out: list[str] = []
    for (scenario, loader), by_strategy in tables.items():
        sizes = sorted({n for cells in by_strategy.values() for n in cells})
        title = scenario + ("" if loader == "json" else f" (JSON loader {loader})")
        header = ["strategy", *(f"p{n}" for n in sizes), "label"]
        rows = [header]
        for name in sorted(by_strategy, key=lambda s: order.get(s, len(order))):
            cells = [_cell(by_strategy[name].get(n)) for n in sizes]
            fn = STRATEGIES.get(name)
            rows.append([name, *cells, label(fn) if fn else ""])
        out.append(f"\n{title}\n{_table(rows)}")
    return "\n".join(out)


def _cell(result: Mapping[str, Any] | None) -> str:
    if result is None:
        return "-"
    ratio = result["ratio"]
    text = f"{ratio['median']:.2f} [{ratio['ci_low']:.2f}-{ratio['ci_high']:.2f}]"
    if result.get("statements", 1) != 1:
        text += f" {result['statements']}st"
    return text


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)
