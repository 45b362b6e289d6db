"""The unified content request: its spec, statement builder, scenarios and oracle."""

from ormbench.query.spec import ContentRequest, Page, SourceType

__all__ = ["ContentRequest", "Page", "SourceType"]
