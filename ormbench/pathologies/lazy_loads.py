"""2. N+1 lazy loads: each row's creator and tags fetched by a statement of their own.

The relationships are ``lazy='select'`` (the default, as in production): reading
``item.creator`` emits one SELECT per creator not yet in the session's identity map, and
reading ``item.tags`` one SELECT per item. A page of N items costs 1 + N + (distinct
creators) statements, each a round trip with its own planning. Eager loading fetches the same
data in one statement per relationship: ``joinedload`` for the many-to-one creator (one JOIN
in the page query), ``selectinload`` for the tags collection (one ``IN`` query).
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import Connection
from sqlalchemy.orm import joinedload, selectinload

from ormbench.data.models import ContentItem
from ormbench.data.roles import Roles
from ormbench.pathologies.base import Pathology, Variant
from ormbench.pathologies.rows import relationship_page
from ormbench.query.build import page_select
from ormbench.query.scenarios import build_request
from ormbench.query.spec import ContentRequest, Page
from ormbench.strategies import StrategyContext

# 25 rows: a page size the endpoint serves, where 1 + N is already 50-odd statements.
PAGE_SIZE = 25


def request(conn: Connection, roles: Roles) -> ContentRequest:
    """canonical at 25 per page, the username read through item.creator (no JOIN)"""
    return replace(build_request("canonical", roles, PAGE_SIZE), with_username=False)


def orm_lazy_relationships(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM select(ContentItem), creator and tags lazy-loaded row by row (N+1)"""
    with ctx.session_factory() as session:
        items = session.execute(page_select(req, ContentItem)).scalars().all()
        return relationship_page(req, items)


def orm_eager_relationships(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM select(ContentItem) with joinedload(creator) and selectinload(tags)"""
    options = (joinedload(ContentItem.creator), selectinload(ContentItem.tags))
    with ctx.session_factory() as session:
        items = session.execute(page_select(req, ContentItem).options(*options)).scalars().all()
        return relationship_page(req, items)


PATHOLOGY = Pathology(
    number=2,
    name="lazy_loads",
    title="N+1 lazy loads of creator and tags",
    mechanism=(
        "lazy='select' creator and tags read per row: one SELECT per item and per new creator"
    ),
    diagnosis="statements 1 + N + distinct creators (2 when eager)",
    request=request,
    bad=Variant(orm_lazy_relationships),
    fixed=Variant(orm_eager_relationships),
)
