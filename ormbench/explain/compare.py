"""Did two strategies send the same SQL, and get the same plan?"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ormbench.explain.analysis import StrategyReport
from ormbench.measure.capture import Statement
from ormbench.measure.plans import diff_shapes
from ormbench.query.spec import Page

# SQL diff lines shown per statement pair; a label-only difference is one line per column.
SQL_DIFF_LINES = 12
# A column label of a select list (``Query`` labels every column, ``select()`` does not).
_LABEL = re.compile(r"\s+AS\s+\w+")


@dataclass(frozen=True)
class Comparison:
    """Did two strategies send the same SQL, and get the same plan?"""

    strategies: tuple[str, str]
    same_sql: bool
    same_plan: bool
    same_page: bool
    sql_diff: tuple[str, ...]
    plan_diff: tuple[str, ...]

    @property
    def verdict(self) -> str:
        """``same SQL, same plan`` / ``different SQL, same plan`` / ``... plan: <diff>``."""
        sql = "same SQL" if self.same_sql else "different SQL"
        if self.same_plan:
            return f"{sql}, same plan"
        return f"{sql}, different plan: {'; '.join(self.plan_diff[:2])}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "strategies": list(self.strategies),
            "same_sql": self.same_sql,
            "same_plan": self.same_plan,
            "same_page": self.same_page,
            "sql_diff": list(self.sql_diff),
            "plan_diff": list(self.plan_diff),
            "verdict": self.verdict,
        }


def _fragments(statement: Statement) -> list[str]:
    # One select-list item or clause per line, so a diff names the column or clause.
    text = f"DECLARE ... CURSOR FOR {statement.sql}" if statement.server_side else statement.sql
    return [part.strip() for part in re.split(r",\s+|\n", text) if part.strip()]


def sql_diff(a: Sequence[Statement], b: Sequence[Statement]) -> list[str]:
    """The differences between two statement lists, a few diff lines per statement."""
    out: list[str] = []
    if len(a) != len(b):
        out.append(f"{len(a)} statements -> {len(b)} statements")
    for i, (x, y) in enumerate(zip(a, b, strict=False), start=1):
        if x.params != y.params:
            out.append(f"[{i}] parameters differ")
        if x.sql != y.sql and _LABEL.sub("", x.sql) == _LABEL.sub("", y.sql):
            # Query's labelled select list vs select()'s: worth one line, not thirty.
            pairs = zip(_fragments(x), _fragments(y), strict=False)
            left, right = next(((p, q) for p, q in pairs if p != q), ("...", "..."))
            out.append(f"[{i}] the same statement but for column labels, e.g. {left} -> {right}")
            continue
        lines = [
            line
            for line in difflib.unified_diff(_fragments(x), _fragments(y), lineterm="", n=0)
            if not line.startswith(("---", "+++", "@@"))
        ]
        if len(lines) > SQL_DIFF_LINES:
            lines = [*lines[:SQL_DIFF_LINES], f"... {len(lines) - SQL_DIFF_LINES} more lines"]
        out.extend(f"[{i}] {line}" for line in lines)
    return out


def _same_page(a: Page, b: Page) -> bool:
    common = [c for c in a.columns if c in b.columns]
    return a.ids == b.ids and a.project(common) == b.project(common)


def compare(a: StrategyReport, b: StrategyReport) -> Comparison:
    """Compare what two strategies sent, the plans they got and the pages they returned."""

    def key(s: Statement) -> tuple[str, str, bool]:
        return (s.sql, repr(s.params), s.server_side)

    same_sql = [key(s) for s in a.statements] == [key(s) for s in b.statements]
    plan_diff: list[str] = []
    if len(a.shapes) != len(b.shapes):
        plan_diff.append(f"{len(a.shapes)} plans -> {len(b.shapes)} plans")
    for i, (x, y) in enumerate(zip(a.shapes, b.shapes, strict=False), start=1):
        prefix = f"[{i}] " if max(len(a.shapes), len(b.shapes)) > 1 else ""
        plan_diff.extend(prefix + line for line in diff_shapes(x, y))
    for i, (x, y) in enumerate(zip(a.modes, b.modes, strict=False), start=1):
        if x.plan != y.plan:
            plan_diff.append(f"[{i}] {x.plan} plan -> {y.plan} plan")
    return Comparison(
        (a.strategy, b.strategy),
        same_sql,
        not plan_diff,
        _same_page(a.page, b.page),
        tuple(sql_diff(a.statements, b.statements)),
        tuple(plan_diff),
    )


__all__ = ["Comparison", "compare", "sql_diff"]
