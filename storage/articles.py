"""Writing articles: find what is already stored, add what is new, never twice.

Uniqueness is enforced by the database (unique canonical URL and content hash,
URL aliases as a primary key): inserts say ``ON CONFLICT DO NOTHING``, so when two
daemons store the same article at once the second insert waits for the first,
inserts nothing, and its caller links the stored copy instead. The lookups here
only make the common case cheap. Headlines that open a story are serialised per
headline with a transaction-scoped advisory lock on PostgreSQL, so syndicated
copies stored by two workers at once still join one story (SQLite has one writer).
The insert path is written with SQLAlchemy Core, not the ORM unit of work: it runs
once per article on the daemon's event loop, and Core does the same work in a
third of the time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

from storage.models import Article, ArticleSource, ArticleUrl, Story, Tag

STORY_WINDOW = timedelta(hours=48)
TagValue = tuple[str, float, dict[str, Any]]

# Built once, from the tables rather than the mapped classes, and run on the
# session's connection: an ORM-enabled statement goes through the ORM's compile
# and bulk-insert machinery, which cost more than SQLite takes to run it.
_ARTICLES, _URLS, _LINKS = Article.__table__, ArticleUrl.__table__, ArticleSource.__table__
_STORIES, _TAGS = Story.__table__, Tag.__table__
_BY_URL = (
    select(_URLS.c.article_id).where(_URLS.c.url.in_(bindparam("urls", expanding=True))).limit(1)
)
_BY_FINGERPRINT = select(_ARTICLES.c.id).where(_ARTICLES.c.content_hash == bindparam("hash"))
_URL_OWNERS = select(_URLS.c.url, _URLS.c.article_id).where(
    _URLS.c.url.in_(bindparam("urls", expanding=True))
)
_STORY = (
    select(_STORIES.c.id)
    .where(
        _STORIES.c.title_key == bindparam("key"),
        _STORIES.c.first_seen_at >= bindparam("low"),
        _STORIES.c.first_seen_at <= bindparam("high"),
    )
    .order_by(_STORIES.c.first_seen_at.desc())
    .limit(1)
)
_NEW_STORY = insert(_STORIES).returning(_STORIES.c.id)
_NEW_TAG = insert(_TAGS)
_STORY_LOCK = select(func.pg_advisory_xact_lock(func.hashtextextended(bindparam("key"), 0)))
_DELETE_STORY = _STORIES.delete().where(_STORIES.c.id == bindparam("sid"))


def _ignoring_conflicts(table: Table) -> dict[str, Insert]:
    return {
        "sqlite": sqlite.insert(table).on_conflict_do_nothing(),
        "postgresql": postgresql.insert(table).on_conflict_do_nothing(),
    }


_NEW_ARTICLE = {
    name: statement.returning(_ARTICLES.c.id)
    for name, statement in _ignoring_conflicts(_ARTICLES).items()
}
_NEW_URL = _ignoring_conflicts(_URLS)
_NEW_LINK = _ignoring_conflicts(_LINKS)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


@dataclass(frozen=True)
class NewArticle:
    canonical_url: str
    title: str
    text: str
    summary: str
    author: str | None
    language: str | None
    published_at: datetime | None
    fetched_at: datetime
    extraction: str
    extraction_note: str | None
    content_hash: str | None
    title_key: str | None


@dataclass(frozen=True)
class StoredArticle:
    """What hooks (the alert outbox) learn about an article just stored."""

    id: int
    story_id: int
    source_id: int
    canonical_url: str
    title: str
    published_at: datetime | None
    fetched_at: datetime
    language: str | None


def find_article(session: Session, urls: Sequence[str], fingerprint: str | None) -> int | None:
    """The id of a stored article reached by any of ``urls`` or with the same text."""
    connection = session.connection()
    found = connection.execute(_BY_URL, {"urls": list(urls)}).scalar()
    if found is None and fingerprint:
        found = connection.execute(_BY_FINGERPRINT, {"hash": fingerprint}).scalar()
    return found


def insert_article(
    session: Session,
    new: NewArticle,
    *,
    urls: Sequence[str],
    source_id: int,
    source_url: str,
    tags: Iterable[TagValue],
) -> StoredArticle | None:
    """Insert a new article with its URLs, source link and tags; None if another writer won.

    None means a concurrent transaction committed the same canonical URL or
    content first: nothing was written, and the caller should link that copy.
    """
    dialect = _dialect(session)
    connection = session.connection()
    story_id, story_is_new = story_for(session, new.title_key, new.published_at or new.fetched_at)
    values = {k: v for k, v in new.__dict__.items() if k != "title_key"}
    article_id = connection.execute(
        _NEW_ARTICLE[dialect], {**values, "story_id": story_id}
    ).scalar()
    if article_id is None:
        if story_is_new:
            connection.execute(_DELETE_STORY, {"sid": story_id})
        return None
    # Sorted, so two writers that share aliases take their row locks in the same order.
    aliases = [{"url": u, "article_id": article_id} for u in sorted(set(urls))]
    connection.execute(_NEW_URL[dialect], aliases)
    connection.execute(
        _NEW_LINK[dialect],
        {"article_id": article_id, "source_id": source_id, "url": source_url,
         "first_seen_at": new.fetched_at},
    )  # fmt: skip
    rows = [
        {"article_id": article_id, "topic": topic, "score": score, "explanation": explanation,
         "tagged_at": new.fetched_at}
        for topic, score, explanation in tags
    ]  # fmt: skip
    if rows:
        connection.execute(_NEW_TAG, rows)
    return StoredArticle(
        id=article_id,
        story_id=story_id,
        source_id=source_id,
        canonical_url=new.canonical_url,
        title=new.title,
        published_at=new.published_at,
        fetched_at=new.fetched_at,
        language=new.language,
    )


def articles_of_urls(session: Session, urls: set[str]) -> dict[str, int]:
    """url → article id for the stored ones among ``urls`` (one query per 500)."""
    found: dict[str, int] = {}
    ordered = sorted(urls)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        found.update(session.connection().execute(_URL_OWNERS, {"urls": chunk}).all())
    return found


def unlinked_articles(session: Session, source_id: int, article_ids: set[int]) -> set[int]:
    if not article_ids:
        return set()
    linked = session.execute(
        select(ArticleSource.article_id).where(
            ArticleSource.source_id == source_id, ArticleSource.article_id.in_(article_ids)
        )
    ).scalars()
    return article_ids - set(linked)


def add_urls(session: Session, article_id: int, urls: Iterable[str]) -> None:
    """Remember more URLs of a stored article (those not yet known anywhere)."""
    wanted = sorted({u for u in urls if u})
    known = set(session.execute(select(ArticleUrl.url).where(ArticleUrl.url.in_(wanted))).scalars())
    fresh = [{"url": u, "article_id": article_id} for u in wanted if u not in known]
    if fresh:
        session.connection().execute(_NEW_URL[_dialect(session)], fresh)


def link_source(session: Session, article_id: int, source_id: int, url: str, at: datetime) -> bool:
    """Record that ``source_id`` carried the article; True if that is news."""
    row = {"article_id": article_id, "source_id": source_id, "url": url, "first_seen_at": at}
    result = session.connection().execute(_NEW_LINK[_dialect(session)], row)
    return bool(result.rowcount)


def story_for(session: Session, key: str | None, moment: datetime) -> tuple[int, bool]:
    """The story a headline belongs to (same key within 48 hours) or a new one; (id, is new)."""
    connection = session.connection()
    if key:
        if _dialect(session) == "postgresql":
            connection.execute(_STORY_LOCK, {"key": key})
        window = {"key": key, "low": moment - STORY_WINDOW, "high": moment + STORY_WINDOW}
        found = connection.execute(_STORY, window).scalar()
        if found is not None:
            return found, False
    story = connection.execute(_NEW_STORY, {"title_key": key or "", "first_seen_at": moment})
    return story.scalar_one(), True


def replace_tags(
    session: Session, article: Article, tags: Iterable[TagValue], at: datetime
) -> tuple[set[str], set[str]]:
    """Make the article's tags exactly ``tags``; returns (added topics, removed topics)."""
    wanted = {topic: (score, explanation) for topic, score, explanation in tags}
    current = {tag.topic: tag for tag in article.tags}
    removed = set(current) - set(wanted)
    for topic in removed:
        article.tags.remove(current[topic])
    added = set()
    for topic, (score, explanation) in wanted.items():
        tag = current.get(topic)
        if tag is None:
            tag = Tag(topic=topic, score=score, explanation=explanation, tagged_at=at)
            article.tags.append(tag)
            added.add(topic)
        else:
            tag.score, tag.explanation = score, explanation
    return added, removed
