"""1. A generic plan through psycopg's server-side prepared statements.

psycopg prepares a statement on the server once one connection has run it
``prepare_threshold`` (5) times, and drops its prepared statements on ROLLBACK, so only
connections that never roll back keep them: autocommit engines, or sessions that end with
COMMIT (the pool's reset-on-return rollback is then a no-op). PostgreSQL plans the first five
executions of a prepared statement with their parameters (custom plans); from the sixth it
switches for good to a parameter-less generic plan when that plan's estimated cost is below
the custom plans' average. Early executions that are expensive (here: a crawl to page 200 of
a mid-popularity tag, 100 per page) raise that average; the generic plan then serves every
later request of the same SQL, whatever its parameters.

psycopg keys its prepared statements by SQL *and parameter types*, and sends a Python int as
int2, int4 or int8 depending on its value: an OFFSET past 32,767 is another prepared statement.
The early requests therefore stay within int2, as the pages users read do.

With LIMIT and OFFSET as unknown parameters the generic plan assumes a large fraction of the
rows is wanted and a tag of average popularity (1 / number of tags), so it reads every link
of the tag through ``ix_content_tags_tag_source_content``, joins each to its content row and
sorts them all. For the popular tag (75% of the items) that is about 225,000 rows for a page
of 10; the custom plan walks ``(created_at, id)`` and stops after a few hundred.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import Connection

from ormbench.data.roles import Roles
from ormbench.pathologies.base import ConnectionSpec, Pathology, Variant
from ormbench.query.scenarios import build_request
from ormbench.query.spec import ContentRequest
from ormbench.strategies import get_strategy

# Priming executions on each new connection: psycopg prepares after 5, PostgreSQL makes 5
# custom plans before it may choose the generic one; 12 leaves margin on both.
PRIME_EXECUTIONS = 12
# Page size and page of the expensive early requests: page 200 of 100 rows of the mid tag
# (OFFSET 19,900, an int2) has an estimated custom cost 10% above the generic plan's on
# canonical (63k vs 57k; deeper pages of that tag cost no more, the plan sorts all its rows).
PRIME_PAGE_SIZE = 100
PRIME_PAGE = 200
# The measured request's page size (deep_offset is page 50).
PAGE_SIZE = 10


def request(conn: Connection, roles: Roles) -> ContentRequest:
    """deep_offset at 10 per page: the popular tag, page 50 by OFFSET"""
    return build_request("deep_offset", roles, PAGE_SIZE)


def early_request(conn: Connection, roles: Roles) -> ContentRequest:
    """a crawl to page 200 of the mid tag, 100 per page (same SQL, other parameters)"""
    req = build_request("canonical", roles, PRIME_PAGE_SIZE).with_page(PRIME_PAGE)
    return replace(req, tags=(roles.mid_tag,))


_ORM_COLUMNS = get_strategy("orm_columns")
_SERVICE_CONNECTION = ConnectionSpec(
    autocommit=True, prime=early_request, prime_executions=PRIME_EXECUTIONS, expect_generic=True
)

PATHOLOGY = Pathology(
    number=1,
    name="generic_plan",
    title="Generic plan through server-side prepared statements",
    mechanism=(
        "an autocommit connection keeps psycopg's prepared statement; after costly early "
        "executions PostgreSQL keeps the generic plan: every link of the tag, then a sort"
    ),
    diagnosis="same SQL, different plan: generic plan -> custom plan; time on the server",
    request=request,
    bad=Variant(_ORM_COLUMNS, _SERVICE_CONNECTION),
    fixed=Variant(
        _ORM_COLUMNS,
        replace(
            _SERVICE_CONNECTION,
            settings={"plan_cache_mode": "force_custom_plan"},
            expect_generic=False,
        ),
    ),
)
