"""The end-of-session summary: per scenario, strategy x page size as the ratio to the floor."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from ormbench.report.recommend import RESPONSE_FLOOR, is_response, render_recommendation
from ormbench.report.table import text_table
from ormbench.strategies import STRATEGIES, label


def render_summary(results: Iterable[Mapping[str, Any]]) -> str:
    """One table per (scenario, loader): rows are strategies, columns page sizes; then the
    response paths' tables and the recommendation, when the run has them."""
    results = list(results)
    out = [_render_pages([r for r in results if not is_response(r)])]
    responses = [r for r in results if is_response(r)]
    if responses:
        out.append(_render_responses(responses))
    recommendation = render_recommendation(results)
    if recommendation:
        out.append(
            f"\nrecommendation: the fastest correct path, next to production\n{recommendation}"
        )
    return "\n".join(text for text in out if text)


def _render_responses(results: list[Mapping[str, Any]]) -> str:
    """Response paths' ratios to the response floor, one table per (scenario, loader)."""
    from ormbench.response.paths import PATHS_BY_NAME  # pydantic only when responses ran

    labels = {name: path.label for name, path in PATHS_BY_NAME.items()}
    order = {name: i for i, name in enumerate(PATHS_BY_NAME)}
    tables: dict[tuple[str, str], dict[str, dict[int, Mapping[str, Any]]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for r in results:
        tables[(r["scenario"], r["json_loader"])][r["strategy"]][r["page_size"]] = r
    out: list[str] = []
    for (scenario, loader), by_path in tables.items():
        sizes = sorted({n for cells in by_path.values() for n in cells})
        title = f"{scenario} responses, ratio to {RESPONSE_FLOOR}"
        title += "" if loader == "json" else f" (JSON loader {loader})"
        rows = [["response path", *(f"p{n}" for n in sizes), "label"]]
        for name in sorted(by_path, key=lambda s: (order.get(s.removesuffix("-app"), 99), s)):
            cells = [_cell(by_path[name].get(n)) for n in sizes]
            base = name.removesuffix("-app")
            text = labels.get(base, "") + (" (through the FastAPI app)" if name != base else "")
            rows.append([name, *cells, text])
        out.append(f"\n{title}\n{text_table(rows)}")
    return "\n".join(out)


def _render_pages(results: list[Mapping[str, Any]]) -> str:
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
        out.append(f"\n{title}\n{text_table(rows)}")
    return "\n".join(out)


def _cell(result: Mapping[str, Any] | None) -> str:
    if result is None:
        return "-"
    ratio = result["ratio"]
    text = f"{ratio['median']:.2f} [{ratio['ci_low']:.2f}-{ratio['ci_high']:.2f}]"
    if result.get("statements", 1) != 1:
        text += f" {result['statements']}st"
    return text
