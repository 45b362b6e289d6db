"""Scenarios are the production request and variants that each change one thing about it."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import fields
from types import SimpleNamespace

import pytest

from ormbench.errors import QuerySpecError
from ormbench.query.scenarios import DEEP_PAGE, SCENARIOS, build_request, get_scenario
from ormbench.query.spec import ContentRequest, SourceType

# Any object with these attributes serves (ormbench.data.roles.Roles in real runs).
ROLES = SimpleNamespace(
    canonical_user=uuid.UUID(int=1),
    popular_tag=uuid.UUID(int=11),
    mid_tag=uuid.UUID(int=12),
    rare_tag=uuid.UUID(int=13),
    tag_pair=(uuid.UUID(int=11), uuid.UUID(int=12)),
)
CURSOR = (dt.datetime(2024, 3, 1, 8, 30), 1234)

# What each scenario changes relative to canonical (field -> value).
CHANGES: dict[str, dict[str, object]] = {
    "canonical": {},
    "rare_tag": {"tags": (ROLES.rare_tag,)},
    "no_tag": {"tags": ()},
    "user_only": {"sources": (SourceType.USER_REGULAR, SourceType.USER_AUTO)},
    "community_only": {"sources": (SourceType.COMMUNITY_REGULAR, SourceType.COMMUNITY_AUTO)},
    "two_tags_any": {"tags": ROLES.tag_pair},
    "two_tags_all": {"tags": ROLES.tag_pair, "tag_match": "all"},
    "sort_quality": {"sort_field": "quality_score"},
    "deep_offset": {"page": DEEP_PAGE},
    "deep_keyset": {"after": CURSOR},
}


def test_canonical_is_the_production_request() -> None:
    """canonical is the production URL's request, joined with users for the username."""
    query = {
        "page": "1",
        "page_size": "10",
        "content_source_types": [s.value for s in SourceType],
        "user_id": str(ROLES.canonical_user),
        "sort_field": "created_at",
        "sort_order": "desc",
        "tag": str(ROLES.popular_tag),
        "with_username": "true",
    }
    assert build_request("canonical", ROLES, 10) == ContentRequest.from_query(query)


@pytest.mark.parametrize("name", list(SCENARIOS))
@pytest.mark.parametrize("page_size", [10, 100])
def test_each_scenario_changes_one_thing(name: str, page_size: int) -> None:
    """Every field equals canonical's except the ones the scenario is about."""
    req = build_request(name, ROLES, page_size, cursor=lambda r: CURSOR)
    canonical = build_request("canonical", ROLES, page_size)
    differing = {
        f.name: getattr(req, f.name)
        for f in fields(ContentRequest)
        if getattr(req, f.name) != getattr(canonical, f.name)
    }
    assert differing == CHANGES[name]
    assert req.page_size == page_size


def test_deep_keyset_resolves_the_deep_offset_page() -> None:
    """deep_keyset asks its cursor source for deep_offset's page and pages after the cursor."""
    asked: list[ContentRequest] = []
    req = build_request("deep_keyset", ROLES, 25, cursor=lambda r: asked.append(r) or CURSOR)
    assert asked == [build_request("deep_offset", ROLES, 25)]
    assert req.keyset and req.after == CURSOR and req.offset == 0


def test_keyset_scenario_without_cursor_source() -> None:
    """A keyset scenario without a cursor source says how to provide one."""
    with pytest.raises(QuerySpecError, match="needs a cursor source"):
        build_request("deep_keyset", ROLES, 10)


def test_unknown_scenario() -> None:
    """An unknown scenario name lists the known ones."""
    with pytest.raises(QuerySpecError, match="choose one of: canonical, rare_tag"):
        get_scenario("cannonical")


def test_labels() -> None:
    """Every scenario has a distinct one-line label from its docstring."""
    labels = [s.label for s in SCENARIOS.values()]
    assert all(labels) and len(set(labels)) == len(labels)
