"""4. selectinload over the composite key without an index leading with (content_id,
content_source), made worse by JIT.

``selectinload(ContentItem.tags)`` loads the page's tags with
``WHERE (content_tags.content_id, content_tags.content_source) IN ((:id, :source), ...)``.
PostgreSQL turns the row-value IN into an OR of (id AND source) tests. With the primary key or
``ix_content_tags_content_source`` that OR is a BitmapOr of index probes; without any index
leading with content_id, the whole of content_tags (1.8 million rows on canonical) is read by a
parallel sequential scan that evaluates the OR on every row. Past ``jit_above_cost`` (100,000;
a 50-item IN list gets there) PostgreSQL also compiles the OR expression with LLVM in every
worker, which adds a fixed cost of a few hundred milliseconds on top.

The missing index is a copy of content_tags without it (``ormbench.pathologies.connection``),
found first on the variant's search_path: the shared dataset keeps its indexes throughout.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import Connection

from ormbench.data.roles import Roles
from ormbench.pathologies.base import ConnectionSpec, Pathology, Variant
from ormbench.pathologies.joined_collection import orm_selectin_tags
from ormbench.query.scenarios import build_request
from ormbench.query.spec import ContentRequest

# 50 items: the smallest page size in use whose IN list pushes the scan past jit_above_cost.
PAGE_SIZE = 50


def request(conn: Connection, roles: Roles) -> ContentRequest:
    """canonical at 50 per page, with each item's tags, no username"""
    return replace(build_request("canonical", roles, PAGE_SIZE), with_username=False)


PATHOLOGY = Pathology(
    number=4,
    name="unindexed_selectin",
    title="selectinload over the composite key without its index, with JIT",
    mechanism=(
        "(content_id, content_source) IN (...) with no index leading with them: a parallel "
        "Seq Scan of content_tags, JIT-compiled"
    ),
    diagnosis="Seq Scan on content_tags in the tags statement's plan, JIT in the plan",
    request=request,
    bad=Variant(
        orm_selectin_tags,
        ConnectionSpec(settings={"jit": "on"}, unindexed_tags=True),
    ),
    fixed=Variant(orm_selectin_tags, ConnectionSpec(settings={"jit": "off"})),
)
