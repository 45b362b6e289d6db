"""Scenario parameters chosen by role from the seeded data, never hard-coded uuids.

Every role is derived by a deterministic rule over the tables (ties broken by the smaller
id), so the same dataset always yields the same roles:

- ``canonical_user``: the user whose smaller count of the two kinds of items (regular and
  auto) is largest: a user with many items of both kinds, so all four content_source_types
  of the production endpoint select rows for them.
- ``popular_tag``: the tag on the most items (top_tag_share, about 75%).
- ``rare_tag``: the least popular tag that is on at least ``RARE_TAG_MIN_USER_ITEMS`` of the
  canonical user's items, of which at least one regular and one auto item. This keeps
  rare-tag pages non-empty for every source type combination while staying near the profile's
  rarest share (about 1% on ci and up; somewhat more on tiny, whose canonical user has too
  few items for a 1% tag to qualify). If no tag qualifies, the rule is relaxed to "any item of
  the canonical user", then to "any tag".
- ``mid_tag``: the tag whose share is closest to the geometric mean of the popular and rare
  tags' shares (about 9% with 75% and 1%): half way between them in selectivity.
- ``tag_pair``: ``(popular_tag, mid_tag)``: "any" matches about the popular share, "all"
  about the product of the two shares, both far from the extremes.

Roles are computed once by the seeder and stored in ``ormbench_meta`` (key ``roles``);
:func:`load_roles` reads them back (or computes them when absent).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from ormbench.data.models import Source

# A rare tag must be on at least this many of the canonical user's items: one full page at
# the smallest page size in use (10).
RARE_TAG_MIN_USER_ITEMS = 10
# ormbench_meta key the seeder stores roles under.
META_ROLES = "roles"


@dataclass(frozen=True)
class Roles:
    """The scenario parameters of one dataset, plus the shares that justify them."""

    canonical_user: uuid.UUID
    popular_tag: uuid.UUID
    mid_tag: uuid.UUID
    rare_tag: uuid.UUID
    tag_pair: tuple[uuid.UUID, uuid.UUID]
    # Share of content rows carrying each role tag, by role name.
    tag_shares: dict[str, float]
    # The canonical user's rows per partition value.
    user_items: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "canonical_user": str(self.canonical_user),
            "popular_tag": str(self.popular_tag),
            "mid_tag": str(self.mid_tag),
            "rare_tag": str(self.rare_tag),
            "tag_pair": [str(t) for t in self.tag_pair],
            "tag_shares": self.tag_shares,
            "user_items": self.user_items,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Roles:
        first, second = (uuid.UUID(t) for t in data["tag_pair"])
        return cls(
            canonical_user=uuid.UUID(data["canonical_user"]),
            popular_tag=uuid.UUID(data["popular_tag"]),
            mid_tag=uuid.UUID(data["mid_tag"]),
            rare_tag=uuid.UUID(data["rare_tag"]),
            tag_pair=(first, second),
            tag_shares={k: float(v) for k, v in data["tag_shares"].items()},
            user_items={k: int(v) for k, v in data["user_items"].items()},
        )


def compute_roles(conn: Connection) -> Roles:
    """Derive the roles from the tables (a few aggregate queries)."""
    regular, auto = Source.ITEMS.value, Source.AUTO.value
    user_row = conn.execute(
        text(
            "SELECT creator_id, count(*) FILTER (WHERE source_type = :regular) AS regular, "
            "count(*) FILTER (WHERE source_type = :auto) AS auto "
            "FROM content_items_all GROUP BY creator_id "
            "ORDER BY least(count(*) FILTER (WHERE source_type = :regular), "
            "count(*) FILTER (WHERE source_type = :auto)) DESC, creator_id LIMIT 1"
        ),
        {"regular": regular, "auto": auto},
    ).one_or_none()
    if user_row is None:
        raise LookupError("no content rows: seed a dataset before asking for roles")
    user = user_row.creator_id
    total = conn.execute(text("SELECT count(*) FROM content_items_all")).scalar_one()
    # Every tag with its link count, zero included, most popular first.
    counts = [
        (row.id, int(row.n))
        for row in conn.execute(
            text(
                "SELECT t.id, count(ct.tag_id) AS n FROM tags t "
                "LEFT JOIN content_tags ct ON ct.tag_id = t.id GROUP BY t.id"
            )
        )
    ]
    if not counts:
        raise LookupError("no tags: seed a dataset before asking for roles")
    share = {tag: n / total for tag, n in counts}
    popular = min(counts, key=lambda c: (-c[1], c[0]))[0]
    mine = {
        row.tag_id: (int(row.regular), int(row.auto))
        for row in conn.execute(
            text(
                "SELECT ct.tag_id, "
                "count(*) FILTER (WHERE ct.content_source = :regular) AS regular, "
                "count(*) FILTER (WHERE ct.content_source = :auto) AS auto "
                "FROM content_tags ct JOIN content_items_all c "
                "ON c.id = ct.content_id AND c.source_type = ct.content_source "
                "WHERE c.creator_id = :user GROUP BY ct.tag_id"
            ),
            {"regular": regular, "auto": auto, "user": user},
        )
    }
    rules = (
        lambda t: t in mine and sum(mine[t]) >= RARE_TAG_MIN_USER_ITEMS and min(mine[t]) >= 1,
        lambda t: t in mine,
        lambda t: True,
    )
    candidates = [tag for tag, _ in counts if tag != popular] or [popular]
    for rule in rules:
        eligible = [tag for tag in candidates if rule(tag)]
        if eligible:
            rare = min(eligible, key=lambda t: (share[t], t))
            break
    target = math.sqrt(share[popular] * share[rare])
    middle = [tag for tag, _ in counts if tag not in (popular, rare)] or [popular]
    mid = min(middle, key=lambda t: (abs(math.log(max(share[t], 1e-12) / target)), t))
    return Roles(
        canonical_user=user,
        popular_tag=popular,
        mid_tag=mid,
        rare_tag=rare,
        tag_pair=(popular, mid),
        tag_shares={
            "popular_tag": round(share[popular], 6),
            "mid_tag": round(share[mid], 6),
            "rare_tag": round(share[rare], 6),
        },
        user_items={regular: int(user_row.regular), auto: int(user_row.auto)},
    )


def load_roles(conn: Connection) -> Roles:
    """The roles stored by the seeder, or computed from the tables if none are stored."""
    stored = conn.execute(
        text("SELECT value FROM ormbench_meta WHERE key = :key"), {"key": META_ROLES}
    ).scalar()
    if stored:
        return Roles.from_json(stored)
    return compute_roles(conn)
