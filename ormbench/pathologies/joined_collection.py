"""3. Row multiplication by a joined eager collection.

``joinedload`` of a collection (what ``lazy='joined'`` on ``tags`` does on every query) joins
the tags to the page: an item with k tags comes back k times, with every column, three JSONB
documents (about 1.4 KB) included. Each copy travels over the wire and psycopg decodes its JSON
again before the ORM discards the duplicates. With a LIMIT the ORM also wraps the page in a
subquery so that the limit counts items, not joined rows. ``selectinload`` sends the page once
and the tags by a second, narrow statement.
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

# 100 rows: the largest page the endpoint serves, where the duplicated JSON adds up.
PAGE_SIZE = 100


def request(conn: Connection, roles: Roles) -> ContentRequest:
    """canonical at 100 per page, with each item's tags, no username"""
    return replace(build_request("canonical", roles, PAGE_SIZE), with_username=False)


def orm_joined_tags(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM select(ContentItem) with joinedload(tags): one row per item and tag"""
    stmt = page_select(req, ContentItem).options(joinedload(ContentItem.tags))
    with ctx.session_factory() as session:
        # unique(): a joined collection returns each item once per tag.
        items = session.execute(stmt).unique().scalars().all()
        return relationship_page(req, items, creator=False)


def orm_selectin_tags(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM select(ContentItem) with selectinload(tags): the page once, tags by IN"""
    stmt = page_select(req, ContentItem).options(selectinload(ContentItem.tags))
    with ctx.session_factory() as session:
        items = session.execute(stmt).scalars().all()
        return relationship_page(req, items, creator=False)


PATHOLOGY = Pathology(
    number=3,
    name="joined_collection",
    title="Row multiplication by a joined eager collection",
    mechanism=(
        "joinedload(tags) returns each item once per tag: every JSONB column sent and decoded again"
    ),
    diagnosis=(
        "the page statement fetches one wide row per item and tag (one per item when "
        "selectin), and JSON decoding grows with it"
    ),
    request=request,
    bad=Variant(orm_joined_tags),
    fixed=Variant(orm_selectin_tags),
)
