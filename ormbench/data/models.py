"""The production schema as SQLAlchemy 2.0 declarative models, plus its partition DDL.

Tables carry no schema name: every connection sets ``search_path`` to ormbench's own schema
(``--pg-schema``), so the same models work in any schema and never reach outside it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Sequence,
    String,
    Table,
    Text,
    and_,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator, TypeEngine

# Bumped whenever a table, column or index changes; part of every dataset fingerprint.
SCHEMA_VERSION = 1


class Source(StrEnum):
    """The partition value. One vocabulary everywhere: content_items_all.source_type and
    content_tags.content_source both hold these strings (production mixed 'regular' and
    'items', which silently dropped every regular item from tag filters)."""

    ITEMS = "items"
    AUTO = "auto"


# Partition table names by partition value.
PARTITIONS: dict[Source, str] = {
    Source.ITEMS: "content_items",
    Source.AUTO: "content_items_auto",
}


class JSONBType(TypeDecorator[Any]):
    """JSON that is JSONB on PostgreSQL, as in the production service."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


class Base(DeclarativeBase):
    metadata = MetaData()


content_id_seq = Sequence("content_items_id_seq", metadata=Base.metadata)

content_tags = Table(
    "content_tags",
    Base.metadata,
    Column("content_id", Integer, nullable=False),
    Column("content_source", Text, nullable=False),
    Column("tag_id", UUID(as_uuid=True), ForeignKey("tags.id", ondelete="CASCADE"), nullable=False),
    PrimaryKeyConstraint("content_id", "content_source", "tag_id", name="content_tags_pkey"),
    Index("ix_content_tags_tag_content", "tag_id", "content_id"),
    Index("ix_content_tags_content_source", "content_id", "content_source"),
    Index("ix_content_tags_tag_source_content", "tag_id", "content_source", "content_id"),
)

# Bookkeeping of ormbench itself: schema version, dataset fingerprint (written last).
ormbench_meta = Table(
    "ormbench_meta",
    Base.metadata,
    Column("key", Text, primary_key=True),
    Column("value", JSONB, nullable=False),
)


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    email: Mapped[str] = mapped_column(String(255))
    preferences: Mapped[dict[str, Any]] = mapped_column(JSONBType, default=dict)
    favorite_tag_ids: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(UUID(as_uuid=True)), default=list
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    tag_metadata: Mapped[dict[str, Any]] = mapped_column(JSONBType, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)


class ContentItem(Base):
    """One class mapped on the LIST-partitioned parent, as in production."""

    __tablename__ = "content_items_all"
    __table_args__ = (
        # Partitioned tables need the partition key in every unique constraint: production's
        # Unique (id, source_type), which is also the mapper's identity.
        PrimaryKeyConstraint("id", "source_type", name="content_items_all_pkey"),
        Index("ix_content_created_id", text("created_at DESC"), text("id DESC")),
        Index("ix_content_creator_created", "creator_id", text("created_at DESC")),
        Index("ix_content_quality_created", text("quality_score DESC"), text("created_at DESC")),
        Index(
            "ix_content_public_created",
            text("created_at DESC"),
            postgresql_where=text("NOT is_private"),
        ),
        Index("ix_content_metadata_gin", "item_metadata", postgresql_using="gin"),
        Index("ix_content_creator", "creator_id"),
        Index("ix_content_content_type", "content_type"),
        {"postgresql_partition_by": "LIST (source_type)"},
    )

    id: Mapped[int] = mapped_column(
        Integer, content_id_seq, server_default=content_id_seq.next_value()
    )
    source_type: Mapped[str] = mapped_column(Text)
    # Collation "C" makes title order byte order on every server (the docker image defaults to
    # en_US), so the correctness oracle can sort titles the way PostgreSQL does.
    title: Mapped[str] = mapped_column(String(255, collation="C"))
    content_type: Mapped[str] = mapped_column(String(50))
    content_data: Mapped[dict[str, Any]] = mapped_column(JSONBType)
    path_thumb: Mapped[str | None] = mapped_column(String(512))
    path_thumbs_alt_res: Mapped[dict[str, Any] | None] = mapped_column(JSONBType)
    prompt: Mapped[str | None] = mapped_column(String(20000))
    item_metadata: Mapped[dict[str, Any]] = mapped_column(JSONBType)
    creator_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)
    quality_score: Mapped[float] = mapped_column(Float)
    is_private: Mapped[bool] = mapped_column(Boolean, default=False)

    # Default (lazy='select') loading on purpose: the benchmarks show what each choice costs.
    creator: Mapped[User] = relationship()
    tags: Mapped[list[Tag]] = relationship(
        secondary=content_tags,
        primaryjoin=lambda: and_(
            ContentItem.id == content_tags.c.content_id,
            ContentItem.source_type == content_tags.c.content_source,
        ),
        secondaryjoin=lambda: Tag.id == content_tags.c.tag_id,
        order_by=lambda: Tag.name,
    )


content_items_all = ContentItem.__table__

# Every column of the list view, in the order the production endpoint returns them.
LIST_COLUMNS: tuple[str, ...] = (
    "id",
    "source_type",
    "title",
    "content_type",
    "content_data",
    "path_thumb",
    "path_thumbs_alt_res",
    "prompt",
    "item_metadata",
    "creator_id",
    "created_at",
    "updated_at",
    "quality_score",
    "is_private",
)
JSON_COLUMNS: tuple[str, ...] = ("content_data", "path_thumbs_alt_res", "item_metadata")


def partition_ddl() -> list[str]:
    """CREATE TABLE ... PARTITION OF statements, one per partition value (idempotent)."""
    return [
        f"CREATE TABLE IF NOT EXISTS {table} PARTITION OF {content_items_all.name} "
        f"FOR VALUES IN ('{source.value}')"
        for source, table in PARTITIONS.items()
    ]
