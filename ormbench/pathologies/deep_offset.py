"""7. Deep OFFSET pages against keyset pagination.

``OFFSET n`` makes the server produce and throw away the n rows before the page: every one
found through the index walk, checked against the filters and the tag EXISTS, joined to its
creator. Page 50 costs 50 pages of work. A keyset cursor (``(created_at, id) < (:value, :id)``)
starts the index walk at the page: its cost does not depend on the depth.
"""

from __future__ import annotations

import functools

from sqlalchemy import Connection

from ormbench.data.roles import Roles
from ormbench.pathologies.base import Pathology, Variant
from ormbench.query.build import fetch_cursor
from ormbench.query.scenarios import build_request
from ormbench.query.spec import ContentRequest
from ormbench.strategies import get_strategy

# 100 per page: page 50 then skips 4,900 rows.
PAGE_SIZE = 100


def offset_request(conn: Connection, roles: Roles) -> ContentRequest:
    """deep_offset at 100 per page: page 50 by OFFSET 4,900"""
    return build_request("deep_offset", roles, PAGE_SIZE)


def keyset_request(conn: Connection, roles: Roles) -> ContentRequest:
    """deep_keyset at 100 per page: the same page after the previous page's last row"""
    return build_request("deep_keyset", roles, PAGE_SIZE, functools.partial(fetch_cursor, conn))


_ORM_COLUMNS = get_strategy("orm_columns")

PATHOLOGY = Pathology(
    number=7,
    name="deep_offset",
    title="Deep OFFSET pages against keyset pagination",
    mechanism="OFFSET 4,900 reads and drops every earlier row; a keyset cursor starts at the page",
    diagnosis="rows read below the Limit grow with the page number (offset + page size)",
    request=offset_request,
    bad=Variant(_ORM_COLUMNS, request=offset_request),
    fixed=Variant(_ORM_COLUMNS, request=keyset_request),
)
