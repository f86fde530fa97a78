"""One article with everything a reader wants beside it: its story's other outlets and its tags."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import Article, ArticleSource, ArticleUrl, Source, Tag


@dataclass(frozen=True)
class Carrier:
    """An outlet that carried the story, and the URL it carried it at."""

    source: str
    url: str
    article_id: int
    title: str
    first_seen: datetime


@dataclass(frozen=True)
class ArticleDetail:
    id: int
    url: str
    title: str
    text: str
    summary: str
    author: str | None
    language: str | None
    published: datetime | None
    fetched: datetime
    extraction: str
    extraction_note: str | None
    story_id: int | None
    urls: tuple[str, ...]
    carriers: tuple[Carrier, ...]
    tags: tuple[tuple[str, float, dict[str, Any]], ...]


def article_detail(session: Session, article_id: int) -> ArticleDetail | None:
    article = session.get(Article, article_id)
    if article is None:
        return None
    siblings = [article_id]
    if article.story_id is not None:
        siblings = list(
            session.execute(
                select(Article.id).where(Article.story_id == article.story_id)
            ).scalars()
        )
    carriers = tuple(
        Carrier(source=name, url=url, article_id=aid, title=title, first_seen=seen)
        for name, url, aid, title, seen in session.execute(
            select(
                Source.name,
                ArticleSource.url,
                Article.id,
                Article.title,
                ArticleSource.first_seen_at,
            )
            .join(ArticleSource, ArticleSource.source_id == Source.id)
            .join(Article, Article.id == ArticleSource.article_id)
            .where(ArticleSource.article_id.in_(siblings))
            .order_by(ArticleSource.first_seen_at, Source.name)
        )
    )
    urls = tuple(
        session.execute(select(ArticleUrl.url).where(ArticleUrl.article_id == article_id)).scalars()
    )
    tags = tuple(
        (t.topic, t.score, t.explanation)
        for t in session.execute(
            select(Tag).where(Tag.article_id == article_id).order_by(Tag.score.desc())
        ).scalars()
    )
    return ArticleDetail(
        id=article.id, url=article.canonical_url, title=article.title, text=article.text,
        summary=article.summary, author=article.author, language=article.language,
        published=article.published_at, fetched=article.fetched_at, extraction=article.extraction,
        extraction_note=article.extraction_note, story_id=article.story_id, urls=urls,
        carriers=carriers, tags=tags,
    )  # fmt: skip


def topic_counts(session: Session) -> list[tuple[str, int]]:
    rows = session.execute(
        select(Tag.topic, func.count()).group_by(Tag.topic).order_by(Tag.topic)
    ).all()
    return [(topic, int(n)) for topic, n in rows]
