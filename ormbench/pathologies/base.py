"""What a pathology is: a request, a "bad" and a "fixed" variant, and the connection each needs.

A variant is a strategy (``fn(ctx, req) -> Page``, docstring as label) plus the connection it
runs on (``ConnectionSpec``): server settings, autocommit, a copy of ``content_tags`` without
its content-side indexes, statements each new connection runs first. Every one of these is a
property of connections that ormbench opens itself, so a trap can never outlive them or reach
the shared dataset: settings go into the connection's startup options, the unindexed table
lives in a schema of its own, and a closed connection takes its prepared statements along.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import Connection

from ormbench.data.roles import Roles
from ormbench.query.spec import ContentRequest
from ormbench.strategies import Strategy, label

# A request built from the dataset: its roles, plus a connection for data-dependent parts
# (keyset cursors, a typical creator). Runs outside any timed region.
RequestFn = Callable[[Connection, Roles], ContentRequest]


@dataclass(frozen=True)
class ConnectionSpec:
    """How every connection of a variant is opened (``ormbench.pathologies.connection``).

    ``settings``: PostgreSQL settings (GUC -> value) in the connection's startup options, as
    ``SET`` would give them, for the whole session. ``autocommit``: no transaction around
    statements, so psycopg's prepared statements survive the pool's reset. ``unindexed_tags``:
    ``content_tags`` resolves to a copy without any index leading with (content_id,
    content_source). ``prime``/``prime_executions``: the statements the variant's strategy
    sends for that request are run this many times on each new connection before it is used;
    with ``expect_generic`` the connection is refused unless PostgreSQL then runs a prepared
    statement with its generic plan (the trap is armed, or the run says why not).
    """

    settings: Mapping[str, str] = field(default_factory=dict)
    autocommit: bool = False
    unindexed_tags: bool = False
    prime: RequestFn | None = None
    prime_executions: int = 0
    expect_generic: bool = False

    def describe(self) -> str:
        """One line for reports: what differs from a plain pooled connection."""
        parts = [f"{k}={v}" for k, v in self.settings.items()]
        if self.autocommit:
            parts.append("autocommit")
        if self.unindexed_tags:
            parts.append("content_tags without (content_id, content_source) indexes")
        if self.prime is not None:
            what = (self.prime.__doc__ or self.prime.__name__).strip().splitlines()[0]
            parts.append(f"primed with {self.prime_executions} x {what}")
        return ", ".join(parts) or "plain pooled connection"


@dataclass(frozen=True)
class Variant:
    """One side of a pathology: a strategy, on a connection, for a request.

    ``request`` overrides the pathology's request (deep OFFSET vs keyset ask for the same page
    in two ways).
    """

    strategy: Strategy
    connection: ConnectionSpec = field(default_factory=ConnectionSpec)
    request: RequestFn | None = None

    @property
    def label(self) -> str:
        """The strategy's label, plus the connection when it is not a plain one."""
        text = label(self.strategy)
        if self.request is not None:
            what = (self.request.__doc__ or self.request.__name__).strip().splitlines()[0]
            text += f", on {what}"
        if self.connection != ConnectionSpec():
            text += f" [{self.connection.describe()}]"
        return text


@dataclass(frozen=True)
class Pathology:
    """A known way a millisecond page becomes seconds: the trap next to its fix.

    ``same_rows``: bad and fixed must return the same rows (checked before any timing, as a
    page mismatch would make the ratio meaningless). False only where returning other rows
    is the point (the production story's hand-written SQL drops rows; the oracle says which).
    ``diagnosis``: what ``ormbench explain`` shows for it, in words (the tests assert it).
    """

    number: int
    name: str
    title: str
    mechanism: str
    diagnosis: str
    request: RequestFn
    bad: Variant
    fixed: Variant
    same_rows: bool = True

    def variant(self, which: str) -> Variant:
        """``bad`` or ``fixed``."""
        if which not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {which!r}")
        return self.bad if which == "bad" else self.fixed

    def request_for(self, which: str) -> RequestFn:
        """The request builder of one variant (its own, else the pathology's)."""
        return self.variant(which).request or self.request


# The two sides of every pathology, in the order they are reported.
VARIANTS: tuple[str, ...] = ("bad", "fixed")

__all__ = ["VARIANTS", "ConnectionSpec", "Pathology", "RequestFn", "Variant"]
