"""Named dataset profiles: the one place where dataset sizes and shapes are written down.

Select a profile with ``--dataset NAME`` / ``ORMBENCH_DATASET`` and override any knob with
``--dataset-set KEY=VALUE,...`` (e.g. ``items=5000,seed=7``). Every knob is part of the dataset
fingerprint, so an override never reuses data seeded with other knobs.

Profiles (content rows = ``items`` + ``auto``; ``items`` is the regular partition):

============  =========  ===========  ======  =====  =============  =================
profile       items      auto         users   tags   tags per item  content_tags rows
============  =========  ===========  ======  =====  =============  =================
tiny          100        1,900        50      20     3              about 6 thousand
ci (default)  2,500      47,500       1,000   106    4              about 200 thousand
canonical     15,000     285,000      2,000   106    4              about 1.2 million
production    65,000     1,110,000    5,000   106    4              about 4.7 million
============  =========  ===========  ======  =====  =============  =================

Knobs (all profiles):

- ``items``, ``auto``: rows in the partitions ``content_items`` and ``content_items_auto``
  (production has about 5.5% regular rows). Ids come from one shared sequence in creation order,
  the two partitions interleaved evenly, as the service creates them.
- ``users``: creators. Who created an item follows a Zipf law of exponent ``creator_skew``
  over the users, so a few power users own many items of both kinds (one becomes the
  canonical user, see :mod:`ormbench.data.roles`).
- ``tags``, ``top_tag_share``, ``rare_tag_share``, ``tags_per_item``: tag popularity. Tag of
  rank ``r`` (0 = most popular) is put on each item independently with probability
  ``p(r) = top * (rare / top) ** (x ** a)`` where ``x = r / (tags - 1)``: the top tag is on
  ``top_tag_share`` of the items, the rarest on ``rare_tag_share``, and the shape exponent ``a``
  is solved so that the mean number of tags per item is ``tags_per_item``. The count of tags
  on one item is therefore a Poisson-binomial distribution with that mean (some items have none).
- ``content_data_bytes``, ``item_metadata_bytes``: mean JSON sizes, measured as
  ``length(column::text)`` (production: about 58 bytes and 1.3 KB).
- ``private_share``: share of items with ``is_private``.
- ``created_days``: created_at spans this many days, ending at a fixed epoch (never now()),
  increasing with the id as in production.
- ``creator_skew``: Zipf exponent of items per creator.
- ``seed``: the seed of every random stream; same profile and knobs give identical tables.

Why ``production`` has 4 tags per item, not 75
----------------------------------------------
Production has about 75 tags per item on 106 tags: 88 million content_tags rows, 22 GB with
indexes. That cannot be seeded on a CI machine in minutes (content_tags rows dominate the
index builds: sorting them by tag costs more than every content index but the GIN one).
With the top tag on 75% and the rarest on 1% of the items, the mean tags per item can be
anything between 1.8 and 78.8 on 106 tags; only the middle of the popularity curve moves.
At 75 almost every tag is on 75% of the items. At 4 the curve falls from the top tag (75%)
to a second tag on 20%, a band of 16 mid tags between 5% and 20%, and a tail of 53 tags
under 2%. We keep the two ends that decide plans (the popular tag, which needs a few rows
scanned per match, and the rare tag, which needs an index) and a real mid band, and give up
the density of popular tags: a filter on a *random* tag is far more selective here than in
production, "all of these tags" filters keep fewer rows, and per-item tag lists are short
(4, not 75), so loading tags per item is cheaper than in production. 6 tags per item (26
mid tags) cost 50% more links for little change in the plans that matter. The same 4 is
used for ``ci`` and ``canonical`` so that every profile has the same tag shares and a plan
seen on one is the plan of the others; ``tiny`` has only 20 tags.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from ormbench.errors import DatasetError

# Smallest JSON means the factories can produce: their fixed keys alone take this many bytes
# (length of the jsonb text); only a filler value shrinks or grows (see factories.Values).
CONTENT_DATA_MIN_BYTES = 50
ITEM_METADATA_MIN_BYTES = 700
# Bisection bounds on ln(a) for the tag popularity shape exponent; e**±30 is flat enough.
_SHAPE_LOG_BOUND = 30.0
# Relative margin kept from the unreachable ends of the tags_per_item range.
_TAGS_PER_ITEM_MARGIN = 0.001


@dataclass(frozen=True)
class Profile:
    """A dataset: its name and every knob that shapes the seeded tables."""

    name: str
    items: int
    auto: int
    users: int
    tags: int
    tags_per_item: float
    top_tag_share: float = 0.75
    rare_tag_share: float = 0.01
    creator_skew: float = 1.0
    content_data_bytes: int = 58
    item_metadata_bytes: int = 1300
    private_share: float = 0.1
    created_days: int = 730
    seed: int = 20240601

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def content_rows(self) -> int:
        """Rows in both partitions together."""
        return self.items + self.auto

    def knobs(self) -> dict[str, Any]:
        """Every knob by name (the fingerprint's content, without the profile name)."""
        out = asdict(self)
        del out["name"]
        return out

    def tag_shares(self) -> list[float]:
        """Probability that an item carries the tag of each rank (0 = most popular)."""
        return _shares(self, _solve_shape(self))


def _shares(p: Profile, a: float) -> list[float]:
    ratio = p.rare_tag_share / p.top_tag_share
    last = p.tags - 1
    return [p.top_tag_share * ratio ** ((r / last) ** a) for r in range(p.tags)]


def _tags_per_item_range(p: Profile) -> tuple[float, float]:
    # a -> 0: every tag but the top one is rare; a -> inf: every tag but the rarest is top.
    low = p.top_tag_share + (p.tags - 1) * p.rare_tag_share
    high = (p.tags - 1) * p.top_tag_share + p.rare_tag_share
    width = high - low
    return low + width * _TAGS_PER_ITEM_MARGIN, high - width * _TAGS_PER_ITEM_MARGIN


def _solve_shape(p: Profile) -> float:
    """The exponent a whose curve has mean p.tags_per_item (the sum grows with a)."""
    lo, hi = -_SHAPE_LOG_BOUND, _SHAPE_LOG_BOUND
    for _ in range(200):
        mid = (lo + hi) / 2
        if sum(_shares(p, math.exp(mid))) < p.tags_per_item:
            lo = mid
        else:
            hi = mid
    return math.exp((lo + hi) / 2)


def _validate(p: Profile) -> None:
    def bad(knob: str, why: str) -> DatasetError:
        return DatasetError(
            f"dataset {p.name!r}: {knob}={getattr(p, knob)!r} {why} (fix it with --dataset-set)"
        )

    for knob in ("items", "auto"):
        # Every scenario reads both partitions, and the roles need items of both kinds.
        if getattr(p, knob) < 1:
            raise bad(knob, "must be >= 1 (every scenario reads both partitions)")
    if p.users < 1:
        raise bad("users", "must be >= 1")
    if p.tags < 2:
        raise bad("tags", "must be >= 2 (a popular and a rare tag)")
    if not 0 < p.rare_tag_share <= p.top_tag_share <= 1:
        raise bad("rare_tag_share", "must satisfy 0 < rare_tag_share <= top_tag_share <= 1")
    low, high = _tags_per_item_range(p)
    if not low <= p.tags_per_item <= high:
        raise bad(
            "tags_per_item",
            f"is unreachable with tags={p.tags}, top_tag_share={p.top_tag_share} and "
            f"rare_tag_share={p.rare_tag_share}: choose between {low:.2f} and {high:.2f}",
        )
    if not 0 <= p.private_share <= 1:
        raise bad("private_share", "must be between 0 and 1")
    if p.creator_skew < 0:
        raise bad("creator_skew", "must be >= 0 (0 spreads items evenly over users)")
    if p.created_days < 1:
        raise bad("created_days", "must be >= 1")
    if p.content_data_bytes < CONTENT_DATA_MIN_BYTES:
        raise bad("content_data_bytes", f"must be >= {CONTENT_DATA_MIN_BYTES}")
    if p.item_metadata_bytes < ITEM_METADATA_MIN_BYTES:
        raise bad("item_metadata_bytes", f"must be >= {ITEM_METADATA_MIN_BYTES}")


# The profiles. Keep the table in the module docstring in step with this one.
PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        # For tests: seeds in about a second; 20 tags keep the rarest tag on ~20 items.
        Profile("tiny", items=100, auto=1_900, users=50, tags=20, tags_per_item=3.0),
        # Default for benchmarks and the gate.
        Profile("ci", items=2_500, auto=47_500, users=1_000, tags=106, tags_per_item=4.0),
        Profile("canonical", items=15_000, auto=285_000, users=2_000, tags=106, tags_per_item=4.0),
        # Production's row counts and tag count; tags per item reduced (module docstring).
        Profile(
            "production", items=65_000, auto=1_110_000, users=5_000, tags=106, tags_per_item=4.0
        ),
    )
}
DEFAULT_PROFILE = "ci"


def _parse(knob: str, kind: type, text: str) -> Any:
    try:
        if kind is int:
            return int(text.replace("_", ""))
        return float(text)
    except ValueError:
        expected = "an integer" if kind is int else "a number"
        raise DatasetError(
            f"could not parse {text!r} for dataset knob {knob}: expected {expected}"
        ) from None


def knob_types() -> dict[str, type]:
    """Knob name -> int or float, in declaration order."""
    hints = {"int": int, "float": float}
    return {f.name: hints[str(f.type)] for f in fields(Profile) if f.name != "name"}


def get_profile(name: str, overrides: Mapping[str, str] | None = None) -> Profile:
    """The named profile with knob overrides parsed from text (``--dataset-set``).

    Raises DatasetError naming the valid profiles or knobs, or the value that failed to parse.
    """
    try:
        base = PROFILES[name]
    except KeyError:
        raise DatasetError(
            f"unknown dataset profile {name!r}; choose one of: {', '.join(PROFILES)} "
            "(--dataset / ORMBENCH_DATASET)"
        ) from None
    types = knob_types()
    changes: dict[str, Any] = {}
    for knob, text in (overrides or {}).items():
        if knob not in types:
            raise DatasetError(
                f"unknown dataset knob {knob!r} in --dataset-set; valid knobs: {', '.join(types)}"
            )
        changes[knob] = _parse(knob, types[knob], text)
    return replace(base, **changes) if changes else base
