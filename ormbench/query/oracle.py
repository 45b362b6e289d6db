"""A pure-Python implementation of the unified content request, to check every strategy.

The oracle reads the rows the generator produced (content rows, tag links, users), not the
database, and answers a ``ContentRequest`` with the same ``Page`` a strategy returns. It shares
no code with the SQL builder: filters, order and pagination are written again from the
request's definition, so a mistake in the statement (a wrong partition match in the EXISTS, a
missing tie-breaker, a keyset comparison in the wrong direction) shows as a different page.

Ordering follows PostgreSQL for the whitelisted fields: timestamps and floats compare as Python
does (no NULLs: the columns are NOT NULL), and titles compare by code point, which is what
PostgreSQL does under the ``C`` and ``C.UTF-8`` collations. Under any other collation pass a
``title_key`` (see ``server_title_key``); ``check_title_collation`` tells which case applies.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from enum import Enum
from typing import Any

from sqlalchemy import Connection, text

from ormbench.data.models import JSON_COLUMNS, LIST_COLUMNS
from ormbench.query.spec import SOURCE_TYPES, ContentRequest, Cursor, Page

# Strings whose order differs between code-point order and common linguistic collations
# (case, punctuation, spaces, digits, accents): used to test the server's title order.
COLLATION_PROBE: tuple[str, ...] = (
    "a",
    "B",
    "b",
    "a b",
    "ab",
    "a-c",
    "Z",
    "_x",
    "1",
    "10",
    "9",
    "é",
    "e",
    "f",
    " a",
)
_ID = LIST_COLUMNS.index("id")
_SOURCE = LIST_COLUMNS.index("source_type")
_CREATOR = LIST_COLUMNS.index("creator_id")
_PRIVATE = LIST_COLUMNS.index("is_private")


def _plain(value: Any, column: str) -> Any:
    """The value as the database hands it back (so oracle and strategies compare equal)."""
    if isinstance(value, Enum):  # e.g. Source.ITEMS: psycopg returns a plain str
        return value.value
    if column in JSON_COLUMNS and value is not None:
        # A jsonb round trip turns tuples into lists and keeps only JSON types.
        return json.loads(json.dumps(value))
    return value


class Oracle:
    """Answers requests from generated rows.

    ``contents``: one mapping per content row, keyed by column name (every LIST_COLUMNS key).
    ``links``: (content_id, content_source, tag_id) triples, as in content_tags.
    ``users``: user id -> username, or mappings with ``id`` and ``username`` keys.
    """

    def __init__(
        self,
        contents: Iterable[Mapping[str, Any]],
        links: Iterable[Sequence[Any]],
        users: Mapping[uuid.UUID, str] | Iterable[Mapping[str, Any]],
        *,
        title_key: Callable[[str], Any] | None = None,
    ) -> None:
        self.rows: list[tuple[Any, ...]] = [
            tuple(_plain(row[c], c) for c in LIST_COLUMNS) for row in contents
        ]
        self.tags: dict[tuple[int, str], set[uuid.UUID]] = defaultdict(set)
        for content_id, content_source, tag_id in links:
            self.tags[(content_id, _plain(content_source, "content_source"))].add(tag_id)
        if isinstance(users, Mapping):
            self.usernames: dict[uuid.UUID, str] = dict(users)
        else:
            self.usernames = {u["id"]: u["username"] for u in users}
        self.title_key = title_key
        self._ordered: dict[ContentRequest, list[tuple[Any, ...]]] = {}

    def _matches_filters(self, row: tuple[Any, ...], req: ContentRequest) -> bool:
        creator = row[_CREATOR]
        # SQL three-valued logic: a NULL creator is neither the user's nor the community's.
        in_sources = creator is not None and any(
            row[_SOURCE] == source.value and (creator == req.user_id) == mine
            for source, mine in (SOURCE_TYPES[s] for s in req.sources)
        )
        if not in_sources:
            return False
        if req.tags:
            # Links count only for the content's own partition, as the EXISTS requires.
            linked = self.tags.get((row[_ID], row[_SOURCE]), set())
            wanted = set(req.tags)
            ok = wanted <= linked if req.tag_match == "all" else bool(wanted & linked)
            if not ok:
                return False
        return req.is_private is None or row[_PRIVATE] == req.is_private

    def _sort_key(self, req: ContentRequest) -> Callable[[tuple[Any, ...]], tuple[Any, int]]:
        index = LIST_COLUMNS.index(req.sort_field)
        if req.sort_field == "title" and self.title_key is not None:
            key = self.title_key
            return lambda row: (key(row[index]), row[_ID])
        return lambda row: (row[index], row[_ID])

    def ordered(self, req: ContentRequest) -> list[tuple[Any, ...]]:
        """Every row matching the filters, in the request's order (no page, no cursor)."""
        # Pages of one request share filters and order: compute them once (ci has 50k rows).
        key = replace(req, page=1, after=None, page_size=1, with_username=False, with_total=False)
        if key not in self._ordered:
            matching = [row for row in self.rows if self._matches_filters(row, req)]
            self._ordered[key] = sorted(
                matching, key=self._sort_key(req), reverse=req.sort_order == "desc"
            )
        return self._ordered[key]

    def total(self, req: ContentRequest) -> int:
        """Rows matching the filters: what COUNT(*) returns."""
        return len(self.ordered(req))

    def _after_cursor(self, req: ContentRequest, rows: list[tuple[Any, ...]]) -> list[Any]:
        if req.after is None:
            return rows
        key = self._sort_key(req)
        value, item_id = req.after
        if req.sort_field == "title" and self.title_key is not None:
            value = self.title_key(value)
        cursor = (value, item_id)
        # Row comparison (sort, id) < / > (value, id): lexicographic, as PostgreSQL's.
        if req.sort_order == "desc":
            return [row for row in rows if key(row) < cursor]
        return [row for row in rows if key(row) > cursor]

    def page(self, req: ContentRequest) -> Page:
        """The page ``req`` asks for, with every list column (+ username when joined)."""
        rows = self._after_cursor(req, self.ordered(req))
        rows = rows[req.offset : req.offset + req.page_size]
        if req.with_username:
            out = tuple((*row, self.usernames[row[_CREATOR]]) for row in rows)
        else:
            out = tuple(rows)
        return Page(req.columns, out, self.total(req) if req.with_total else None)

    def cursor(self, req: ContentRequest) -> Cursor | None:
        """Keyset cursor reaching ``req``'s OFFSET page: the previous page's last row.

        Same contract as ``ormbench.query.build.fetch_cursor``, computed from the rows.
        """
        if req.offset == 0:
            return None
        before = self.ordered(req)[: req.offset]
        if not before:
            return None
        last = before[-1]
        return (last[LIST_COLUMNS.index(req.sort_field)], last[_ID])


def verify_rows(oracle: Oracle, conn: Connection, *, limit: int = 5) -> list[str]:
    """Differences between the oracle's rows and the seeded tables; empty when they agree.

    The oracle regenerates rows from the profile; a database seeded by another version of
    the generator (same fingerprint, different rows) would make every comparison fail for a
    reason that has nothing to do with the strategies. This names that cause up front.
    """
    columns = ", ".join(LIST_COLUMNS)
    seeded = conn.execute(text(f"SELECT {columns} FROM content_items_all ORDER BY id"))
    expected = sorted(oracle.rows, key=lambda row: row[_ID])
    problems: list[str] = []
    count = 0
    for want, got in zip(expected, seeded, strict=False):
        count += 1
        got = tuple(got)
        if want != got:
            index = next(i for i, (a, b) in enumerate(zip(want, got, strict=True)) if a != b)
            shown = repr(got[index])
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            problems.append(f"content id {got[_ID]}: {LIST_COLUMNS[index]} is {shown}")
            if len(problems) >= limit:
                break
    seeded_links = conn.execute(text("SELECT count(*) FROM content_tags")).scalar_one()
    links = sum(len(tags) for tags in oracle.tags.values())
    if not problems and (count != len(expected) or seeded_links != links):
        problems.append(
            f"{count} content rows and {seeded_links} links seeded, "
            f"{len(expected)} and {links} generated"
        )
    return problems


def check_title_collation(conn: Connection) -> bool:
    """True when the server orders text as Python does (code point order).

    Checked by sorting ``COLLATION_PROBE`` on the server, not by the collation's name, because
    what "C.UTF-8" means differs between glibc versions and builds.
    """
    server = conn.execute(
        text("SELECT s FROM unnest(CAST(:probe AS text[])) AS s ORDER BY s"),
        {"probe": list(COLLATION_PROBE)},
    ).scalars()
    return list(server) == sorted(COLLATION_PROBE)


def server_title_key(conn: Connection, titles: Iterable[str]) -> Callable[[str], int]:
    """A title key taken from the server's own order, for clusters with a linguistic collation.

    Only the relative order of the distinct titles comes from the server; filtering, the id
    tie-breaker and pagination stay the oracle's own. Unknown titles (e.g. a cursor value that
    is not a title) raise KeyError.
    """
    ordered = conn.execute(
        text("SELECT t FROM unnest(CAST(:titles AS text[])) AS t GROUP BY t ORDER BY t"),
        {"titles": sorted(set(titles))},
    ).scalars()
    rank = {title: n for n, title in enumerate(ordered)}
    return rank.__getitem__


__all__ = [
    "COLLATION_PROBE",
    "Oracle",
    "check_title_collation",
    "server_title_key",
    "verify_rows",
]
