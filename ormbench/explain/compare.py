"""Did two strategies send the same SQL, and get the same plan?"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ormbench.explain.analysis import StrategyReport
from ormbench.measure.capture import Statement
from ormbench.measure.plans import NodeFacts, diff_shapes

# SQL diff lines shown per statement pair; a label-only difference is one line per column.
SQL_DIFF_LINES = 12
# Characters of a normalized statement named in a group line.
SQL_CHARS = 70
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
    groups_added: tuple[str, ...] = ()
    groups_removed: tuple[str, ...] = ()
    groups_repeated: tuple[str, ...] = ()
    # The same plan shape, run differently (a spill on one side only).
    execution_diff: tuple[str, ...] = ()

    @property
    def verdict(self) -> str:
        """``same SQL, same plan`` / ``different SQL, same plan`` / ``... plan: <diff>``,
        then the statement groups that changed."""
        sql = "same SQL" if self.same_sql else "different SQL"
        text = (
            f"{sql}, same plan"
            if self.same_plan
            else f"{sql}, different plan: {'; '.join(self.plan_diff[:2])}"
        )
        changes = [
            *(f"ran differently: {d}" for d in self.execution_diff[:1]),
            *(f"repeats {g}" for g in self.groups_repeated[:1]),
            *(f"adds {g}" for g in self.groups_added[:1]),
            *(f"drops {g}" for g in self.groups_removed[:1]),
        ]
        return f"{text}; {'; '.join(changes)}" if changes else text

    def as_dict(self) -> dict[str, Any]:
        return {
            "strategies": list(self.strategies),
            "same_sql": self.same_sql,
            "same_plan": self.same_plan,
            "same_page": self.same_page,
            "sql_diff": list(self.sql_diff),
            "plan_diff": list(self.plan_diff),
            "groups": {
                "added": list(self.groups_added),
                "removed": list(self.groups_removed),
                "repeated": list(self.groups_repeated),
            },
            "execution_diff": list(self.execution_diff),
            "verdict": self.verdict,
        }


def _fragments(statement: Statement) -> list[str]:
    # One select-list item or clause per line, so a diff names the column or clause.
    text = f"DECLARE ... CURSOR FOR {statement.sql}" if statement.server_side else statement.sql
    return [part.strip() for part in re.split(r",\s+|\n", text) if part.strip()]


def _short(sql: str) -> str:
    text = _LABEL.sub("", sql)
    return text if len(text) <= SQL_CHARS else text[: SQL_CHARS - 3] + "..."


@dataclass(frozen=True)
class Pairing:
    """Statements of two executions paired by normalized SQL (``pair``)."""

    pairs: tuple[tuple[int, int], ...]
    only_a: tuple[int, ...]
    only_b: tuple[int, ...]


def pair(a: Sequence[Statement], b: Sequence[Statement]) -> Pairing:
    """Pair statements by normalized SQL, not position: the longest common runs of equal
    normalized SQL pair up; between them, statements replaced one for one pair in order
    (another SQL at the same place), and the rest were added or removed."""
    matcher = difflib.SequenceMatcher(
        None, [s.normalized for s in a], [s.normalized for s in b], autojunk=False
    )
    pairs: list[tuple[int, int]] = []
    only_a: list[int] = []
    only_b: list[int] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        n = min(i2 - i1, j2 - j1) if tag in ("equal", "replace") else 0
        pairs.extend(zip(range(i1, i1 + n), range(j1, j1 + n), strict=True))
        only_a.extend(range(i1 + n, i2))
        only_b.extend(range(j1 + n, j2))
    return Pairing(tuple(pairs), tuple(only_a), tuple(only_b))


def _prefix(i: int, j: int) -> str:
    return f"[{i + 1}]" if i == j else f"[{i + 1}->{j + 1}]"


def _collapsed(statements: Sequence[Statement], indexes: Sequence[int], verb: str) -> list[str]:
    """``removed 100 x `SELECT ...` ([2]-[101])``: one line per normalized SQL."""
    by_sql: dict[str, list[int]] = {}
    for i in indexes:
        by_sql.setdefault(statements[i].normalized, []).append(i)
    out = []
    for sql, members in by_sql.items():
        where = f"[{members[0] + 1}]" + (f"-[{members[-1] + 1}]" if len(members) > 1 else "")
        count = f"{len(members)} x " if len(members) > 1 else ""
        out.append(f"{where} {verb} {count}`{_short(sql)}`")
    return out


def sql_diff(a: Sequence[Statement], b: Sequence[Statement]) -> list[str]:
    """The differences between two statement lists, paired by normalized SQL (``pair``)."""
    paired = pair(a, b)
    out: list[str] = []
    if len(a) != len(b):
        out.append(f"{len(a)} statements -> {len(b)} statements")
    for i, j in paired.pairs:
        x, y = a[i], b[j]
        tag = _prefix(i, j)
        if x.sql == y.sql:
            if x.params != y.params and x.kind == "query":
                out.append(f"{tag} parameters differ")
            continue
        if _LABEL.sub("", x.sql) == _LABEL.sub("", y.sql):
            # Query's labelled select list vs select()'s: worth one line, not thirty.
            frags = zip(_fragments(x), _fragments(y), strict=False)
            left, right = next(((p, q) for p, q in frags if p != q), ("...", "..."))
            out.append(f"{tag} the same statement but for column labels, e.g. {left} -> {right}")
            continue
        lines = [
            line
            for line in difflib.unified_diff(_fragments(x), _fragments(y), lineterm="", n=0)
            if not line.startswith(("---", "+++", "@@"))
        ]
        if len(lines) > SQL_DIFF_LINES:
            lines = [*lines[:SQL_DIFF_LINES], f"... {len(lines) - SQL_DIFF_LINES} more lines"]
        out.extend(f"{tag} {line}" for line in lines)
    out.extend(_collapsed(a, paired.only_a, "removed"))
    out.extend(_collapsed(b, paired.only_b, "added"))
    return out


def _groups(
    a: Sequence[Statement], b: Sequence[Statement], paired: Pairing
) -> tuple[list[str], list[str], list[str]]:
    """Normalized-SQL groups added, removed, and sent another number of times. A group that
    only changed its text (every statement paired with one of another group of the same
    size, e.g. another ORDER BY) is a changed statement, shown by the SQL diff instead."""
    count_a = Counter(s.normalized for s in a)
    count_b = Counter(s.normalized for s in b)
    partner: dict[str, set[str]] = {}
    for i, j in paired.pairs:
        partner.setdefault(b[j].normalized, set()).add(a[i].normalized)
    changed_b = {
        q
        for q, others in partner.items()
        if len(others) == 1
        and count_a[next(iter(others))] == count_b[q]
        and sum(1 for j in paired.only_b if b[j].normalized == q) == 0
    }
    changed_a = {next(iter(partner[q])) for q in changed_b}
    added = [q for q in count_b if q not in count_a and q not in changed_b]
    removed = [q for q in count_a if q not in count_b and q not in changed_a]
    repeated = [
        f"`{_short(q)}` x{count_a[q]} -> x{count_b[q]}"
        for q in count_a
        if q in count_b and count_a[q] != count_b[q]
    ]
    return (
        [f"`{_short(q)}` (x{count_b[q]})" for q in added],
        [f"`{_short(q)}` (x{count_a[q]})" for q in removed],
        repeated,
    )


def _how_it_ran(x: NodeFacts) -> str:
    if x.hash_batches and x.hash_batches > 1:
        return f"{x.hash_batches} hash batches"
    if x.sort_method:
        return f"{x.sort_method} ({x.sort_space_type or '?'})"
    return "in memory"


def execution_diff(a: StrategyReport, b: StrategyReport, paired: Pairing) -> list[str]:
    """How paired statements with the same plan shape ran differently: a sort or hash that
    spilled on one side only (``[2->1] Sort: external merge (Disk) -> top-N heapsort
    (Memory)``)."""
    out: list[str] = []
    for i, j in paired.pairs:
        x, y = a.shapes[i], b.shapes[j]
        if x is None or y is None or x != y:
            continue
        for fx, fy in zip(a.observation.facts[i], b.observation.facts[j], strict=False):
            if fx.spilled != fy.spilled or fx.sort_method != fy.sort_method:
                out.append(f"{_prefix(i, j)} {fx.label}: {_how_it_ran(fx)} -> {_how_it_ran(fy)}")
    return out


def compare(a: StrategyReport, b: StrategyReport) -> Comparison:
    """Compare what two strategies sent (paired by normalized SQL), the plans they got and
    the pages they returned."""

    def key(s: Statement) -> tuple[str, str, bool]:
        return (s.sql, repr(s.params), s.server_side)

    same_sql = [key(s) for s in a.statements] == [key(s) for s in b.statements]
    plans_a = sum(1 for s in a.shapes if s is not None)
    plans_b = sum(1 for s in b.shapes if s is not None)
    plan_diff: list[str] = []
    if plans_a != plans_b:
        plan_diff.append(f"{plans_a} plans -> {plans_b} plans")
    paired = pair(a.statements, b.statements)
    several = max(len(a.statements), len(b.statements)) > 1
    for i, j in paired.pairs:
        x, y = a.shapes[i], b.shapes[j]
        if x is None or y is None:
            continue
        prefix = f"{_prefix(i, j)} " if several else ""
        plan_diff.extend(prefix + line for line in diff_shapes(x, y))
    for i, j in paired.pairs:
        x, y = a.mode_of(i), b.mode_of(j)
        # Generic or custom only on the probe's evidence: an unknown mode is no difference.
        if x.plan != y.plan and "unknown" not in (x.plan, y.plan):
            plan_diff.append(f"{_prefix(i, j)} {x.plan} plan -> {y.plan} plan")
    added, removed, repeated = _groups(a.statements, b.statements, paired)
    return Comparison(
        (a.strategy, b.strategy),
        same_sql,
        not plan_diff,
        not a.page.diff(b.page, shared=True),
        tuple(sql_diff(a.statements, b.statements)),
        tuple(plan_diff),
        tuple(added),
        tuple(removed),
        tuple(repeated),
        tuple(execution_diff(a, b, paired)),
    )


__all__ = ["Comparison", "Pairing", "compare", "execution_diff", "pair", "sql_diff"]
