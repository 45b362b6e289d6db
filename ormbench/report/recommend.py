"""The recommendation: per scenario and page size, the fastest correct way to serve the page.

From one run's results (pytest's paired benchmarks or ``ormbench compare``), for each
(scenario, page size, JSON loader), the path with the lowest median ratio to the floor at each
level, next to the production path at the same level, measured in the same run:

* page level: every full-page strategy (partial pages such as load_only cannot serve the
  endpoint's response), production = ``orm_scalars``; and the fastest ORM strategy;
* response level: every response path, production = ``orm_scalars-pydantic`` (ORM entities,
  Pydantic, JSON), paired with ``dbapi_fetchall`` plus orjson; and the same through the app.

Every listed path passed the correctness check before it was timed (a mismatching page or
body fails its benchmark), so "fastest" only ever ranks correct paths.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ormbench.report.table import text_table

# Names kept literal so that reading a report needs no database packages.
PAGE_FLOOR = "dbapi_fetchall"
PAGE_PRODUCTION = "orm_scalars"
RESPONSE_FLOOR = "dbapi_fetchall-orjson"
RESPONSE_PRODUCTION = "orm_scalars-pydantic"
APP_SUFFIX = "-app"

Result = Mapping[str, Any]


@dataclass(frozen=True)
class Pick:
    """The fastest path of one level, and the production path of the same level."""

    level: str
    fastest: Result
    production: Result | None
    # Other candidates whose 95% interval reaches the fastest's: the data cannot rank them.
    tied: tuple[str, ...] = ()

    @property
    def production_is_slower(self) -> bool:
        """True when production's interval lies wholly above the fastest's."""
        if self.production is None:
            return False
        return self.production["ratio"]["ci_low"] > self.fastest["ratio"]["ci_high"]

    @property
    def speedup(self) -> float | None:
        """Production's median ratio over the fastest's: how many times faster it serves."""
        if self.production is None:
            return None
        return self.production["ratio"]["median"] / self.fastest["ratio"]["median"]


def is_response(result: Result) -> bool:
    """A response-level result (``benchmarks/test_responses.py``, ``compare --responses``)."""
    return result.get("level") == "response"


def _levels(cell: list[Result]) -> list[tuple[str, list[Result], str]]:
    page = [r for r in cell if not is_response(r) and r.get("full_page", False)]
    response = [r for r in cell if is_response(r) and not r.get("app")]
    app = [r for r in cell if is_response(r) and r.get("app")]
    return [
        ("page", page, PAGE_PRODUCTION),
        ("page, ORM", [r for r in page if r["strategy"].startswith("orm_")], PAGE_PRODUCTION),
        ("response", response, RESPONSE_PRODUCTION),
        ("response, app", app, RESPONSE_PRODUCTION + APP_SUFFIX),
    ]


def recommend(results: Iterable[Result]) -> dict[tuple[str, int, str], list[Pick]]:
    """Per (scenario, page size, loader): one Pick per level that has candidates."""
    cells: dict[tuple[str, int, str], list[Result]] = defaultdict(list)
    for r in results:
        cells[(r["scenario"], r["page_size"], r.get("json_loader", "json"))].append(r)
    out: dict[tuple[str, int, str], list[Pick]] = {}
    for key, cell in cells.items():
        picks = []
        for level, candidates, production in _levels(cell):
            by_name = {r["strategy"]: r for r in candidates}
            ranked = [
                r
                for name, r in by_name.items()
                if name not in (PAGE_FLOOR, RESPONSE_FLOOR) and math.isfinite(r["ratio"]["median"])
            ]
            if ranked:
                fastest = min(ranked, key=lambda r: r["ratio"]["median"])
                high = fastest["ratio"]["ci_high"]
                tied = tuple(
                    r["strategy"]
                    for r in sorted(ranked, key=lambda r: r["ratio"]["median"])
                    if r is not fastest and r["ratio"]["ci_low"] <= high
                )
                picks.append(Pick(level, fastest, by_name.get(production), tied))
        if picks:
            out[key] = picks
    return out


def _ratio(result: Result | None) -> str:
    if result is None:
        return "-"
    q = result["ratio"]
    return f"{q['median']:.2f} [{q['ci_low']:.2f}-{q['ci_high']:.2f}]"


def render_recommendation(results: Iterable[Result]) -> str:
    """The recommendation table; empty when no result can be ranked."""
    picks = recommend(results)
    if not picks:
        return ""
    rows = [
        [
            "scenario",
            "size",
            "level",
            "fastest correct path",
            "ratio",
            "tied with",
            "production",
            "ratio",
            "x",
        ]
    ]
    for (scenario, size, loader), cell in sorted(picks.items()):
        name = scenario + ("" if loader == "json" else f" ({loader})")
        for pick in cell:
            production = pick.production
            rows.append(
                [
                    name,
                    f"p{size}",
                    pick.level,
                    pick.fastest["strategy"],
                    _ratio(pick.fastest),
                    _tied(pick.tied),
                    production["strategy"] if production else "-",
                    _ratio(production),
                    _speedup(pick),
                ]
            )
    note = (
        "ratios: median per-round ratio to the floor of the level [95% CI] (page: "
        f"{PAGE_FLOOR}; response: {RESPONSE_FLOOR}); tied with: paths whose interval reaches "
        "the fastest's (not ranked apart by this run); x: production's ratio over the fastest's, "
        "'?' when their intervals overlap (INCONCLUSIVE)"
    )
    return f"{text_table(rows)}\n{note}"


def _tied(names: tuple[str, ...]) -> str:
    if not names:
        return "-"
    shown = ", ".join(names[:2])
    return shown + (f" +{len(names) - 2}" if len(names) > 2 else "")


def _speedup(pick: Pick) -> str:
    if pick.speedup is None:
        return "-"
    return f"{pick.speedup:.2f}" + ("" if pick.production_is_slower else "?")


__all__ = ["Pick", "is_response", "recommend", "render_recommendation"]
