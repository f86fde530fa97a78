"""The archive's tables.

An *article* is one piece of content, stored once however many URLs and sources
lead to it; ``article_urls`` remembers every URL it was reached by so a feed
poll can tell "already have it" without fetching the page again. A *story*
groups articles from different outlets that carry the same report (syndicated
copies with near-identical titles), so alerts can speak of stories.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps are stored naive-UTC and come back timezone-aware.

    SQLite has no time zones; normalising at this one boundary keeps comparisons
    correct on both SQLite and PostgreSQL.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the archive; use timezone-aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar = {datetime: UTCDateTime(), dict[str, Any]: JSON}


class Source(Base):
    """A configured feed, sitemap or page, with its fetch state and its poll lease.

    ``next_poll_at`` and ``lease_owner``/``lease_until`` are how several daemons
    share sources: a worker claims due rows (``FOR UPDATE SKIP LOCKED`` on
    PostgreSQL) and a lease that a crashed worker lets expire.
    """

    __tablename__ = "sources"
    __table_args__ = (Index("ix_sources_due", "next_poll_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    url: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16), default="feed")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)  # config.yaml's and not paused
    paused: Mapped[bool] = mapped_column(Boolean, default=False)  # `newsmon sources disable`
    adhoc: Mapped[bool] = mapped_column(Boolean, default=False)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    last_polled_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    next_poll_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime]


class Story(Base):
    __tablename__ = "stories"

    id: Mapped[int] = mapped_column(primary_key=True)
    title_key: Mapped[str] = mapped_column(String(300), index=True)
    first_seen_at: Mapped[datetime] = mapped_column(index=True)


class Article(Base):
    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(primary_key=True)
    canonical_url: Mapped[str] = mapped_column(Text, unique=True)
    title: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16))
    published_at: Mapped[datetime | None]  # sorted through ix_articles_when (migration 0003)
    fetched_at: Mapped[datetime] = mapped_column(index=True)
    extraction: Mapped[str] = mapped_column(String(16), default="full")
    extraction_note: Mapped[str | None] = mapped_column(Text)
    content_hash: Mapped[str | None] = mapped_column(String(64), index=True, unique=True)
    story_id: Mapped[int | None] = mapped_column(ForeignKey("stories.id"), index=True)

    urls: Mapped[list[ArticleUrl]] = relationship(back_populates="article")
    sources: Mapped[list[ArticleSource]] = relationship(back_populates="article")
    tags: Mapped[list[Tag]] = relationship(
        back_populates="article", cascade="all, delete-orphan", order_by="Tag.score.desc()"
    )


class ArticleUrl(Base):
    """Every URL that leads to an article: feed link, final URL, rel=canonical."""

    __tablename__ = "article_urls"

    url: Mapped[str] = mapped_column(Text, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    article: Mapped[Article] = relationship(back_populates="urls")


class ArticleSource(Base):
    __tablename__ = "article_sources"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    source_id: Mapped[int] = mapped_column(
        ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    url: Mapped[str] = mapped_column(Text)
    first_seen_at: Mapped[datetime]

    article: Mapped[Article] = relationship(back_populates="sources")
    source: Mapped[Source] = relationship()


class Tag(Base):
    __tablename__ = "tags"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    topic: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    score: Mapped[float] = mapped_column(Float)
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON)
    tagged_at: Mapped[datetime]

    article: Mapped[Article] = relationship(back_populates="tags")


class Alert(Base):
    """The outbox: one row per message owed to a channel, written in the tag's transaction.

    ``dedup_key`` makes owing idempotent: ``route|channel|story:ID`` for an
    immediate alert (so a story reached through several outlets is owed once),
    ``route|channel|digest:TIME`` for a digest. ``parts_sent`` lets a message
    split into several posts resume after the last part that went out.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("dedup_key", name="uq_alerts_dedup_key"),
        Index("ix_alerts_due", "status", "next_attempt_at"),
        Index("ix_alerts_route_created", "route", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(300))
    route: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16), default="immediate")
    story_id: Mapped[int | None] = mapped_column(ForeignKey("stories.id"), index=True)
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id", ondelete="SET NULL"))
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    parts_sent: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None]


class DigestItem(Base):
    """A story waiting for a route's next digest (a digest route's match, or immediate overflow).

    ``digest_key`` stays empty until a digest takes the item; taking items and
    owing the digest happen in one transaction, so a story is in exactly one digest.
    """

    __tablename__ = "digest_items"
    __table_args__ = (
        UniqueConstraint("route", "story_id", name="uq_digest_items_route_story"),
        Index("ix_digest_items_waiting", "route", "digest_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    route: Mapped[str] = mapped_column(String(100))
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id"))
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(String(16), default="digest")
    created_at: Mapped[datetime]
    digest_key: Mapped[str | None] = mapped_column(String(300))


class PollRun(Base):
    __tablename__ = "poll_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    http_status: Mapped[int | None] = mapped_column(Integer)
    entries: Mapped[int] = mapped_column(Integer, default=0)
    new: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class JobMark(Base):
    """Small durable facts about periodic jobs, e.g. when a route's last digest ran."""

    __tablename__ = "job_marks"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    at: Mapped[datetime]
    value: Mapped[dict[str, Any] | None] = mapped_column(JSON)
