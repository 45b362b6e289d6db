"""8. An exact total COUNT on every page against a capped count.

``with_total`` adds ``SELECT count(*)`` over the whole filtered set: for the popular tag on
canonical that is about 225,000 rows, each with its EXISTS probe, to print a number the page
shows as "of 225,114". The page itself reads a few dozen rows. Production measured 2-8 s for
this count and fell back to a per-tag cardinality table. Counting at most ``TOTAL_CAP + 1``
rows (enough to print "1,000+") costs about as much as reading that many rows.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import Connection, Select, bindparam, func, literal, select

from ormbench.data.models import ContentItem
from ormbench.data.roles import Roles
from ormbench.pathologies.base import Pathology, Variant
from ormbench.query import build
from ormbench.query.scenarios import build_request
from ormbench.query.spec import ContentRequest, Page
from ormbench.strategies import StrategyContext, get_strategy

# Rows counted at most by the capped count; a result above it is shown as "1,000+".
TOTAL_CAP = 1000
# The production page size.
PAGE_SIZE = 10


def request(conn: Connection, roles: Roles) -> ContentRequest:
    """canonical at 10 per page with the total"""
    return replace(build_request("canonical", roles, PAGE_SIZE), with_total=True)


def capped_total_select(req: ContentRequest) -> Select[tuple[int]]:
    """``count(*)`` of at most ``TOTAL_CAP + 1`` matching rows."""
    capped = (
        select(literal(1))
        .select_from(build.content)
        .where(*build.filter_criteria(req))
        .limit(bindparam("total_cap", TOTAL_CAP + 1))
        .subquery("capped")
    )
    return select(func.count()).select_from(capped)


def orm_columns_capped_total(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM select(list columns) plus a count capped at 1,000 ("1,000+")"""
    attributes = [getattr(ContentItem, c) for c in req.columns if c != "username"]
    with ctx.session_factory() as session:
        rows = tuple(tuple(row) for row in session.execute(build.page_select(req, *attributes)))
        total = session.execute(capped_total_select(req)).scalar_one()
    return Page(req.columns, rows, total)


PATHOLOGY = Pathology(
    number=8,
    name="exact_count",
    title="An exact total COUNT on every page",
    mechanism=(
        "count(*) reads every match of the tag (225,000 rows on canonical) next to a page of 10"
    ),
    diagnosis="a second statement whose plan reads every matching row dominates the server time",
    request=request,
    bad=Variant(get_strategy("orm_columns")),
    fixed=Variant(orm_columns_capped_total),
)
