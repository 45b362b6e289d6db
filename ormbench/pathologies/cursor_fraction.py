"""6. yield_per's server-side cursor planned for a fast start.

``yield_per`` streams through a server-side cursor (``DECLARE ... CURSOR``). PostgreSQL plans a
cursor to return its first ``cursor_tuple_fraction`` (default 0.1) of the rows fast, assuming
the client may stop early. For a rare tag at 1,000 per page that favours walking the
``(created_at, id)`` index and probing content_tags per row (the first rows come at once; the
thousandth after most of the table), where a plain fetch plans for all the rows: the tag's
links first, then a sort. Setting ``cursor_tuple_fraction = 1.0`` for the request (``SET
LOCAL`` in its transaction, or on the connection as here) plans the cursor like a plain
fetch; so does not streaming a page that is read whole anyway.
"""

from __future__ import annotations

from sqlalchemy import Connection

from ormbench.data.roles import Roles
from ormbench.pathologies.base import ConnectionSpec, Pathology, Variant
from ormbench.query.scenarios import build_request
from ormbench.query.spec import ContentRequest
from ormbench.strategies import get_strategy

# The large page, where the streamed plan's slow tail dominates.
PAGE_SIZE = 1000


def request(conn: Connection, roles: Roles) -> ContentRequest:
    """rare_tag at 1,000 per page"""
    return build_request("rare_tag", roles, PAGE_SIZE)


_YIELD_PER = get_strategy("orm_yield_per")

PATHOLOGY = Pathology(
    number=6,
    name="cursor_fraction",
    title="yield_per's server-side cursor planned for a fast start",
    mechanism=(
        "DECLARE CURSOR is planned for cursor_tuple_fraction 0.1: fast first rows, slow last"
    ),
    diagnosis="same SQL as the plain fetch, different plan (the cursor's)",
    request=request,
    bad=Variant(_YIELD_PER),
    fixed=Variant(_YIELD_PER, ConnectionSpec(settings={"cursor_tuple_fraction": "1.0"})),
)
