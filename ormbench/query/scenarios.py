"""Named scenarios: the production request and the variants that change one thing about it.

A scenario is a function of the dataset's roles (who the canonical user is, which tags are
popular, rare...) and the page size, returning a ``ContentRequest``. ``canonical`` is the
production request; every other scenario differs from it in one respect, so a change in cost
is attributable to that respect.

``deep_keyset`` is the page ``deep_offset`` asks for, reached by keyset cursor instead of
OFFSET. Its cursor depends on the data, so ``build_request`` resolves it through a cursor
source: ``functools.partial(build.fetch_cursor, conn)`` on a database, ``Oracle.cursor`` on
generated rows. Both return the last row of the previous page, so the two scenarios return
the same page (the correctness tests check it).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from ormbench.errors import QuerySpecError
from ormbench.query.spec import ALL_SOURCES, ContentRequest, Cursor, SourceType

# The deep page of deep_offset / deep_keyset: page 50, the depth of a long infinite scroll.
DEEP_PAGE = 50
# Page sizes the endpoint serves; 1000 is the off-by-default "large" variant.
PAGE_SIZES: tuple[int, ...] = (10, 25, 50, 100)
LARGE_PAGE_SIZE = 1000

CursorSource = Callable[[ContentRequest], Cursor | None]


class RolesLike(Protocol):
    """The dataset roles scenarios need (``ormbench.data.roles.Roles`` has them)."""

    @property
    def canonical_user(self) -> uuid.UUID: ...
    @property
    def popular_tag(self) -> uuid.UUID: ...
    @property
    def mid_tag(self) -> uuid.UUID: ...
    @property
    def rare_tag(self) -> uuid.UUID: ...
    @property
    def tag_pair(self) -> tuple[uuid.UUID, uuid.UUID]: ...


def canonical(roles: RolesLike, page_size: int) -> ContentRequest:
    """Production request: four sources, canonical user, popular tag, newest first, username."""
    return ContentRequest(
        sources=ALL_SOURCES,
        user_id=roles.canonical_user,
        tags=(roles.popular_tag,),
        sort_field="created_at",
        sort_order="desc",
        page_size=page_size,
        with_username=True,
    )


def rare_tag(roles: RolesLike, page_size: int) -> ContentRequest:
    """Canonical with the rare tag: the server has to look for its matches."""
    return replace(canonical(roles, page_size), tags=(roles.rare_tag,))


def no_tag(roles: RolesLike, page_size: int) -> ContentRequest:
    """Canonical without a tag filter: no EXISTS at all."""
    return replace(canonical(roles, page_size), tags=())


def user_only(roles: RolesLike, page_size: int) -> ContentRequest:
    """Canonical restricted to the user's own items (user-regular, user-auto)."""
    sources = (SourceType.USER_REGULAR, SourceType.USER_AUTO)
    return replace(canonical(roles, page_size), sources=sources)


def community_only(roles: RolesLike, page_size: int) -> ContentRequest:
    """Canonical restricted to other users' items (community-regular, community-auto)."""
    sources = (SourceType.COMMUNITY_REGULAR, SourceType.COMMUNITY_AUTO)
    return replace(canonical(roles, page_size), sources=sources)


def two_tags_any(roles: RolesLike, page_size: int) -> ContentRequest:
    """Canonical with two tags, either matching: one EXISTS with tag_id IN (...)."""
    return replace(canonical(roles, page_size), tags=tuple(roles.tag_pair), tag_match="any")


def two_tags_all(roles: RolesLike, page_size: int) -> ContentRequest:
    """Canonical with two tags, both required: one EXISTS per tag."""
    return replace(canonical(roles, page_size), tags=tuple(roles.tag_pair), tag_match="all")


def sort_quality(roles: RolesLike, page_size: int) -> ContentRequest:
    """Canonical sorted by quality_score, best first."""
    return replace(canonical(roles, page_size), sort_field="quality_score")


def deep_offset(roles: RolesLike, page_size: int) -> ContentRequest:
    """Canonical at page 50 by OFFSET: the server reads and drops every earlier row."""
    return canonical(roles, page_size).with_page(DEEP_PAGE)


def deep_keyset(roles: RolesLike, page_size: int) -> ContentRequest:
    """Canonical at page 50 by keyset cursor: the same page as deep_offset, without OFFSET.

    Returns the OFFSET form; ``build_request`` swaps in the cursor (it depends on the data).
    """
    return deep_offset(roles, page_size)


@dataclass(frozen=True)
class Scenario:
    """A named scenario; ``keyset`` ones need a cursor source to become a request."""

    name: str
    make: Callable[[RolesLike, int], ContentRequest]
    keyset: bool = False

    @property
    def label(self) -> str:
        """The first line of the scenario function's docstring."""
        return (self.make.__doc__ or self.name).strip().splitlines()[0]


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("canonical", canonical),
        Scenario("rare_tag", rare_tag),
        Scenario("no_tag", no_tag),
        Scenario("user_only", user_only),
        Scenario("community_only", community_only),
        Scenario("two_tags_any", two_tags_any),
        Scenario("two_tags_all", two_tags_all),
        Scenario("sort_quality", sort_quality),
        Scenario("deep_offset", deep_offset),
        Scenario("deep_keyset", deep_keyset, keyset=True),
    )
}


def get_scenario(name: str) -> Scenario:
    """The scenario called ``name``; a QuerySpecError lists the known ones otherwise."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise QuerySpecError(
            f"unknown scenario {name!r}; choose one of: {', '.join(SCENARIOS)}"
        ) from None


def build_request(
    name: str, roles: RolesLike, page_size: int, cursor: CursorSource | None = None
) -> ContentRequest:
    """The request of scenario ``name`` at ``page_size``, keyset cursor resolved.

    ``cursor`` is required for keyset scenarios and ignored otherwise; resolve once per
    (scenario, page size), outside any timed region.
    """
    scenario = get_scenario(name)
    req = scenario.make(roles, page_size)
    if not scenario.keyset:
        return req
    if cursor is None:
        raise QuerySpecError(
            f"scenario {name!r} pages by keyset cursor and needs a cursor source: pass "
            "cursor=functools.partial(ormbench.query.build.fetch_cursor, conn) or Oracle.cursor"
        )
    return req.with_keyset(cursor(req))


__all__ = [
    "DEEP_PAGE",
    "LARGE_PAGE_SIZE",
    "PAGE_SIZES",
    "SCENARIOS",
    "CursorSource",
    "RolesLike",
    "Scenario",
    "build_request",
    "get_scenario",
]
