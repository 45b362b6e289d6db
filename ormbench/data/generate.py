"""Pure-Python generation of a profile's rows: deterministic, streamed in chunks.

No database is involved: the same profile and seed give the same rows, on any machine, in any
process, whatever the chunk size. The seeder COPYs these rows; a correctness oracle can
regenerate them with :func:`iter_dataset` and compare.

How rows are made
-----------------
Each table's row shape is compiled from its factory in :mod:`ormbench.data.factories`
(:func:`compile_plan`): every column gets its value from the factory's declaration (a value
function of :class:`~ormbench.data.factories.Values` called with the table's seeded random
stream, or a ``factory.Sequence``), except the *structural* columns listed in
:data:`STRUCTURAL`, which this module decides because they give the data its production shape:

- ``content_items_all.id``: 1..N from the shared sequence, in creation order; the partitions
  are interleaved evenly (row ``i`` is regular when ``floor((i+1)*items/N)`` steps up).
- ``source_type``: the partition of that id, in the one vocabulary (:class:`Source`).
- ``created_at``: increases with the id over ``created_days`` ending at the fixed epoch.
- ``creator_id``: Zipf-distributed over users (user 0 creates the most).
- ``content_tags``: tag of rank ``r`` is on each item independently with probability
  ``profile.tag_shares()[r]``; tag 0 (``tag_000``) is the most popular.
- ``users.favorite_tag_ids``: up to three of the ten most popular tags.

Random streams: one ``random.Random`` per table, seeded from the profile seed and the table
name, drives the declared columns, consumed row after row in column order; content has a
second one for its structural draws. So a row's values do not depend on where a chunk
starts. Tag links use one stream per tag that walks the items with geometric skips
(``O(links)`` work instead of one draw per item and tag); for the same reason it is
chunk-free. Only ``random()`` and ``getrandbits()`` are used (stable across Python versions);
the skips go through ``math.log``, identical on the usual C libraries: a libm rounding
differently in the last bit could, rarely, move a link, which the fingerprint cannot see.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import random
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import factory
from sqlalchemy import Table

from ormbench.data.factories import EPOCH, FACTORIES, Drawn, Values
from ormbench.data.models import Base, Source
from ormbench.data.profiles import Profile

# Bumped whenever the rows generated for a given profile and seed change; part of the
# fingerprint, so a changed generator never reuses data seeded by an older one.
GENERATOR_VERSION = 2
# Content rows per chunk: about 4 MB of COPY data, small enough to stream, big enough that
# per-chunk costs (one COPY statement per target table) vanish.
CHUNK_ROWS = 2_000
# users.favorite_tag_ids: drawn among this many most popular tags, up to FAVORITE_TAGS_MAX.
FAVORITE_TAGS_FROM = 10
FAVORITE_TAGS_MAX = 3

# Columns the dataset decides (module docstring); the factories declare every other column.
STRUCTURAL: dict[str, tuple[str, ...]] = {
    "users": ("favorite_tag_ids",),
    "tags": (),
    "content_items_all": ("id", "source_type", "creator_id", "created_at"),
    "content_tags": ("content_id", "content_source", "tag_id"),
}


def stream(seed: int, name: str) -> random.Random:
    """The random stream ``name`` of a dataset. String seeds are hashed with SHA-512, which
    Python keeps stable across versions and processes (unlike hash())."""
    return random.Random(f"ormbench:{seed}:{name}")


# -- compiling factories into row plans --------------------------------------------------------


@dataclass(frozen=True)
class _Step:
    """How one declared column is filled: kind 'drawn' (fn(rng, *deps)), 'sequence' (fn(n))
    or 'constant'."""

    position: int
    kind: str
    value: Any
    depends: tuple[int, ...] = ()


@dataclass(frozen=True)
class RowPlan:
    """A table's row shape compiled from its factory: column order, where each value comes
    from, and the structural columns the caller supplies."""

    table: Table
    columns: tuple[str, ...]
    structural: tuple[int, ...]
    steps: tuple[_Step, ...]

    def rows(
        self,
        values: Values,
        rng: random.Random,
        structural_rows: Sequence[Sequence[Any]],
        first_n: int = 0,
    ) -> list[tuple[Any, ...]]:
        """One row per structural tuple, in table column order; ``n`` numbers sequences."""
        return self.maker(values)(rng, structural_rows, first_n)

    def maker(self, values: Values) -> Callable[..., list[tuple[Any, ...]]]:
        """A function ``(rng, structural_rows, first_n) -> rows`` specialised for this plan.

        Generated source, like dataclasses and namedtuple do: one local per column and no
        per-column dispatch, because this loop runs once per content row (a generic loop
        over the steps costs about a third of generation time).
        """
        namespace: dict[str, Any] = {}
        given = [f"s{i}" for i in range(len(self.structural))]
        local = {position: name for position, name in zip(self.structural, given, strict=True)}
        body = []
        for step in self.steps:
            name = f"c{step.position}"
            if step.kind == "drawn":
                namespace[f"f{step.position}"] = getattr(values, step.value)
                args = ", ".join(["rng", *(local[d] for d in step.depends)])
                body.append(f"{name} = f{step.position}({args})")
            elif step.kind == "sequence":
                namespace[f"f{step.position}"] = step.value
                body.append(f"{name} = f{step.position}(n)")
            else:
                namespace[name] = step.value
            local[step.position] = name
        unpack = f"({', '.join(given)},)" if given else "_"
        columns = ", ".join(local[i] for i in range(len(self.columns)))
        lines = [
            "def make(rng, structural_rows, first_n):",
            "    out = []",
            "    append = out.append",
            f"    for n, {unpack} in enumerate(structural_rows, first_n):",
            *(f"        {line}" for line in body),
            f"        append(({columns},))",
            "    return out",
        ]
        # Safe: the source is built from column positions only, never from data.
        exec("\n".join(lines), namespace)
        return namespace["make"]


def compile_plan(table_name: str) -> RowPlan:
    """Compile the factory of ``table_name`` against the table's columns.

    Raises TypeError if a column is neither structural nor declared, or if a declaration is
    of a kind the bulk path cannot evaluate without factory-boy's per-row machinery.
    """
    table = Base.metadata.tables[table_name]
    columns = tuple(c.name for c in table.columns)
    structural = STRUCTURAL[table_name]
    declarations = FACTORIES[table_name]._meta.declarations
    index = {name: i for i, name in enumerate(columns)}
    steps: list[_Step] = []
    for name in columns:
        if name in structural:
            continue
        if name not in declarations:
            raise TypeError(f"{table_name}.{name}: no factory declaration and not structural")
        decl = declarations[name]
        if isinstance(decl, Drawn):
            steps.append(
                _Step(index[name], "drawn", decl.method, tuple(index[d] for d in decl.depends))
            )
        elif isinstance(decl, factory.Sequence):
            steps.append(_Step(index[name], "sequence", decl.function))
        elif not isinstance(decl, factory.declarations.BaseDeclaration):
            steps.append(_Step(index[name], "constant", decl))
        else:
            raise TypeError(f"{table_name}.{name}: {type(decl).__name__} is not bulk-compilable")
    # A value function's dependencies are filled before it: structural ones always are,
    # declared ones must come earlier in column order.
    filled = {index[name] for name in structural}
    for step in steps:
        missing = [columns[d] for d in step.depends if d not in filled]
        if missing:
            raise TypeError(f"{table_name}.{columns[step.position]} depends on later {missing}")
        filled.add(step.position)
    return RowPlan(
        table=table,
        columns=columns,
        structural=tuple(index[name] for name in structural),
        steps=tuple(steps),
    )


# -- the dataset ------------------------------------------------------------------------------


@dataclass
class Chunk:
    """Content rows ``start .. start+len(rows)-1`` (0-based positions; id = position + 1) in id
    order, both partitions interleaved, and the tag ranks of each row."""

    start: int
    rows: list[tuple[Any, ...]]
    tag_ranks: list[list[int]]


class Generator:
    """Generates one profile's rows: users and tags up front (small), content in chunks.

    ``users`` and ``tags`` are row tuples in table column order (``plans[name].columns``);
    ``user_ids`` and ``tag_ids`` list their ids, users by creator rank (user 0 creates the
    most items), tags by popularity rank (tag 0 is the most popular).
    """

    def __init__(self, profile: Profile) -> None:
        p = self.profile = profile
        self.values = Values(p)
        self.plans = {name: compile_plan(name) for name in FACTORIES}
        tag_plan, user_plan = self.plans["tags"], self.plans["users"]
        self.tags = tag_plan.rows(self.values, stream(p.seed, "tags"), [()] * p.tags)
        self.tag_ids: list[uuid.UUID] = [row[tag_plan.columns.index("id")] for row in self.tags]
        self.users = self._users()
        self.user_ids: list[uuid.UUID] = [row[user_plan.columns.index("id")] for row in self.users]
        # Zipf: user k creates items in proportion to 1 / (k + 1) ** skew.
        weights = [1.0 / (k + 1) ** p.creator_skew for k in range(p.users)]
        self._cumulative = list(_accumulate(weights))
        self.shares = p.tag_shares()

    def _users(self) -> list[tuple[Any, ...]]:
        p = self.profile
        rng = stream(p.seed, "users.favorites")
        popular = self.tag_ids[: min(FAVORITE_TAGS_FROM, len(self.tag_ids))]
        favorites = []
        for _ in range(p.users):
            count = int(rng.random() * (FAVORITE_TAGS_MAX + 1))
            favorites.append(([popular[int(rng.random() * len(popular))] for _ in range(count)],))
        # Duplicates are dropped in first-seen order (a set would depend on hashing).
        favorites = [(list(dict.fromkeys(f)),) for (f,) in favorites]
        return self.plans["users"].rows(self.values, stream(p.seed, "users"), favorites)

    def chunks(self, chunk_rows: int = CHUNK_ROWS) -> Iterator[Chunk]:
        """Content rows and their tag ranks, ``chunk_rows`` at a time, in id order."""
        p = self.profile
        total = p.content_rows
        plan = self.plans["content_items_all"]
        # Two streams, each consumed row after row: structural draws and declared values.
        rng = stream(p.seed, "content")
        rand = stream(p.seed, "content.shape").random
        links = _LinkWalker(p.seed, self.shares)
        step_us = p.created_days * 86_400_000_000 / total
        first = EPOCH - dt.timedelta(days=p.created_days)
        items, users, cumulative = p.items, self.user_ids, self._cumulative
        weight = cumulative[-1]
        regular, auto = Source.ITEMS.value, Source.AUTO.value
        make = plan.maker(self.values)
        delta, where = dt.timedelta, bisect.bisect
        for start in range(0, total, chunk_rows):
            stop = min(total, start + chunk_rows)
            structural = [
                (
                    i + 1,
                    regular if (i + 1) * items // total > i * items // total else auto,
                    users[where(cumulative, rand() * weight)],
                    first + delta(microseconds=int((i + rand()) * step_us)),
                )
                for i in range(start, stop)
            ]
            yield Chunk(start, make(rng, structural, start), links.take(start, stop))


def _accumulate(weights: list[float]) -> Iterator[float]:
    total = 0.0
    for w in weights:
        total += w
        yield total


class _LinkWalker:
    """Walks each tag's items with geometric skips: the gap to the next item carrying a tag
    of share p is Geometric(p), so the work is one draw per link, not per (item, tag)."""

    def __init__(self, seed: int, shares: list[float]) -> None:
        self.streams = [stream(seed, f"tag.{rank}") for rank in range(len(shares))]
        # ln(1 - p); None marks a tag on every item.
        self.logs = [math.log1p(-p) if p < 1 else None for p in shares]
        self.next = [self._skip(rank) for rank in range(len(shares))]

    def _skip(self, rank: int) -> int:
        log = self.logs[rank]
        if log is None:
            return 0
        # 1 - random() is in (0, 1]: the log is finite.
        return int(math.log(1.0 - self.streams[rank].random()) / log)

    def take(self, start: int, stop: int) -> list[list[int]]:
        buckets: list[list[int]] = [[] for _ in range(stop - start)]
        for rank in range(len(self.streams)):
            position = self.next[rank]
            while position < stop:
                buckets[position - start].append(rank)
                position += 1 + self._skip(rank)
            self.next[rank] = position
        return buckets


# -- the oracle's view -------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetRows:
    """Every row of a profile, as plain Python values (no database).

    - ``users`` / ``tags``: lists of dicts keyed by column name (uuid.UUID ids, datetime
      timestamps, dict JSON values, list of uuid.UUID favorite_tag_ids).
    - :meth:`content`: iterator of content row dicts keyed by column name, in id order, both
      partitions interleaved (``source_type`` tells the partition).
    - :meth:`links`: iterator of ``(content_id, content_source, tag_id)`` tuples, by content id
      then tag rank.

    Both iterators regenerate the rows from the seed on every call; they stream.
    """

    profile: Profile
    users: list[dict[str, Any]]
    tags: list[dict[str, Any]]

    def content(self) -> Iterator[dict[str, Any]]:
        gen = Generator(self.profile)
        columns = gen.plans["content_items_all"].columns
        for chunk in gen.chunks():
            for row in chunk.rows:
                yield dict(zip(columns, row, strict=True))

    def links(self) -> Iterator[tuple[int, str, uuid.UUID]]:
        gen = Generator(self.profile)
        tag_ids = gen.tag_ids
        columns = gen.plans["content_items_all"].columns
        id_at, source_at = columns.index("id"), columns.index("source_type")
        for chunk in gen.chunks():
            for row, ranks in zip(chunk.rows, chunk.tag_ranks, strict=True):
                for rank in ranks:
                    yield (row[id_at], row[source_at], tag_ids[rank])


def iter_dataset(profile: Profile) -> DatasetRows:
    """The rows a seed of ``profile`` loads, regenerated in pure Python (see DatasetRows)."""
    gen = Generator(profile)
    user_columns = gen.plans["users"].columns
    tag_columns = gen.plans["tags"].columns
    return DatasetRows(
        profile=profile,
        users=[dict(zip(user_columns, row, strict=True)) for row in gen.users],
        tags=[dict(zip(tag_columns, row, strict=True)) for row in gen.tags],
    )


__all__ = [
    "CHUNK_ROWS",
    "GENERATOR_VERSION",
    "STRUCTURAL",
    "Chunk",
    "DatasetRows",
    "Generator",
    "RowPlan",
    "compile_plan",
    "iter_dataset",
    "stream",
]
