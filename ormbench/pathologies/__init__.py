"""The pathology catalogue: every known way a millisecond page becomes seconds, next to its fix.

Each pathology (one module each) is a request plus a "bad" and a "fixed" variant: a strategy
and the connection it runs on (``base.ConnectionSpec``). The traps are applied to ormbench's
own connections only, never to the shared dataset (``connection``). ``benchmarks/
test_pathologies.py`` times bad against fixed in interleaved pairs (``paired``);
``diagnose`` runs ``ormbench explain``'s analysis on both variants, and
``tests/test_pathologies.py`` asserts that it names each mechanism.

They need a dataset big enough to show them: ``PROFILE`` (canonical, 300,000 items).

=====  ======================  ==========================================================
 #     name                    trap
=====  ======================  ==========================================================
 1     generic_plan            generic plan through psycopg's prepared statements
 2     lazy_loads              N+1 lazy loads of creator and tags
 3     joined_collection       row multiplication by a joined eager collection
 4     unindexed_selectin      selectinload over (content_id, content_source) unindexed, JIT
 5     cast_index              creator_id::text = :user on a user-only feed
 6     cursor_fraction         yield_per's cursor planned for a fast start
 7     deep_offset             deep OFFSET pages against keyset
 8     exact_count             an exact COUNT(*) on every page against a capped one
 9     production_story        "the ORM is 700x slower than psql"
=====  ======================  ==========================================================
"""

from __future__ import annotations

from ormbench.errors import ConfigError
from ormbench.pathologies import (
    cast_index,
    cursor_fraction,
    deep_offset,
    exact_count,
    generic_plan,
    joined_collection,
    lazy_loads,
    production_story,
    unindexed_selectin,
)
from ormbench.pathologies.base import VARIANTS, ConnectionSpec, Pathology, RequestFn, Variant

# The dataset profile the pathologies are measured and diagnosed on: the smallest whose
# plans show every trap (on ci several traps cost too little to tell from noise).
PROFILE = "canonical"

# Name -> pathology, in catalogue order.
PATHOLOGIES: dict[str, Pathology] = {
    p.name: p
    for p in sorted(
        (
            generic_plan.PATHOLOGY,
            lazy_loads.PATHOLOGY,
            joined_collection.PATHOLOGY,
            unindexed_selectin.PATHOLOGY,
            cast_index.PATHOLOGY,
            cursor_fraction.PATHOLOGY,
            deep_offset.PATHOLOGY,
            exact_count.PATHOLOGY,
            production_story.PATHOLOGY,
        ),
        key=lambda p: p.number,
    )
}


def get_pathology(name: str) -> Pathology:
    """The pathology called ``name`` (or numbered so); a ConfigError lists them otherwise."""
    if name.isdigit():
        for pathology in PATHOLOGIES.values():
            if pathology.number == int(name):
                return pathology
    try:
        return PATHOLOGIES[name]
    except KeyError:
        raise ConfigError(
            f"unknown pathology {name!r}; choose one of: {', '.join(PATHOLOGIES)}"
        ) from None


__all__ = [
    "PATHOLOGIES",
    "PROFILE",
    "VARIANTS",
    "ConnectionSpec",
    "Pathology",
    "RequestFn",
    "Variant",
    "get_pathology",
]
