"""Writing articles: find what is already stored, add what is new, never twice.

Uniqueness is enforced by the database (unique canonical URL, URL aliases as a
primary key), so even a racing second writer cannot store an article twice;
these functions only make the common case cheap.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Article, ArticleSource, ArticleUrl, Story, Tag

STORY_WINDOW = timedelta(hours=48)


def article_by_urls(session: Session, urls: Iterable[str]) -> Article | None:
    candidates = list(dict.fromkeys(u for u in urls if u))
    if not candidates:
        return None
    row = session.execute(
        select(ArticleUrl.article_id).where(ArticleUrl.url.in_(candidates)).limit(1)
    ).scalar()
    return session.get(Article, row) if row is not None else None


def article_by_fingerprint(session: Session, fingerprint: str | None) -> Article | None:
    if not fingerprint:
        return None
    return session.execute(
        select(Article).where(Article.content_hash == fingerprint).limit(1)
    ).scalar()


def add_urls(session: Session, article: Article, urls: Iterable[str]) -> None:
    known = set(
        session.execute(select(ArticleUrl.url).where(ArticleUrl.article_id == article.id)).scalars()
    )
    for url in dict.fromkeys(u for u in urls if u):
        if url in known:
            continue
        owner = session.get(ArticleUrl, url)
        if owner is None:
            session.add(ArticleUrl(url=url, article_id=article.id))
        known.add(url)


def link_source(session: Session, article_id: int, source_id: int, url: str, at: datetime) -> bool:
    """Record that ``source_id`` carried the article; True if that is news."""
    if session.get(ArticleSource, (article_id, source_id)) is not None:
        return False
    session.add(
        ArticleSource(article_id=article_id, source_id=source_id, url=url, first_seen_at=at)
    )
    return True


def story_for(session: Session, key: str | None, moment: datetime) -> Story:
    """The story a headline belongs to: same key within 48 hours, or a new story."""
    if key:
        found = session.execute(
            select(Story)
            .where(
                Story.title_key == key,
                Story.first_seen_at >= moment - STORY_WINDOW,
                Story.first_seen_at <= moment + STORY_WINDOW,
            )
            .order_by(Story.first_seen_at.desc())
            .limit(1)
        ).scalar()
        if found is not None:
            return found
    story = Story(title_key=key or "", first_seen_at=moment)
    session.add(story)
    session.flush()
    return story


def replace_tags(
    session: Session,
    article: Article,
    tags: Iterable[tuple[str, float, dict[str, Any]]],
    at: datetime,
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
            article.tags.append(
                Tag(topic=topic, score=score, explanation=explanation, tagged_at=at)
            )
            added.add(topic)
        else:
            tag.score, tag.explanation = score, explanation
    return added, removed
