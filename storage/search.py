"""The one query API over the archive, used by the CLI, the web UI and the tests.

A :class:`SearchRequest` says what to find; :func:`search` answers with
:class:`ArticleRow` values. Full text goes through FTS5 on SQLite; filters
(topic, source, language, dates, score) are plain indexed SQL, so the same
request works with or without a text query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import column, exists, func, literal_column, or_, select, table, text
from sqlalchemy.orm import Session

from storage.models import Article, ArticleSource, Source, Tag
from storage.query_syntax import parse_query, to_fts5

Sort = Literal["relevance", "date"]
_FTS = table("articles_fts", column("rowid"))
# Title hits weigh four times body hits; the snippet comes from whichever column matched.
_RANK = literal_column("bm25(articles_fts, 4.0, 1.0)").label("rank")
_SNIPPET = literal_column("snippet(articles_fts, -1, '[', ']', '…', 16)").label("snip")


@dataclass(frozen=True)
class SearchRequest:
    query: str | None = None
    topics: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    language: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    min_score: float | None = None
    sort: Sort = "relevance"
    limit: int = 20
    offset: int = 0


@dataclass(frozen=True)
class ArticleRow:
    id: int
    url: str
    title: str
    published: datetime | None
    fetched: datetime
    language: str | None
    extraction: str
    sources: tuple[str, ...]
    topics: tuple[tuple[str, float], ...]
    snippet: str
    story_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def source(self) -> str:
        return self.sources[0] if self.sources else ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "title": self.title,
            "source": self.source,
            "sources": list(self.sources),
            "published": self.published.isoformat() if self.published else None,
            "fetched": self.fetched.isoformat(),
            "language": self.language,
            "topics": [topic for topic, _score in self.topics],
            "scores": {topic: round(score, 3) for topic, score in self.topics},
            "extraction": self.extraction,
            "snippet": self.snippet,
            "story_id": self.story_id,
        }


def search(session: Session, request: SearchRequest) -> list[ArticleRow]:
    node = parse_query(request.query or "")
    when = func.coalesce(Article.published_at, Article.fetched_at)
    columns: list[Any] = [Article.id]
    statement = select(*columns)
    if node is not None:
        match = to_fts5(node)
        statement = (
            select(Article.id, _RANK, _SNIPPET)
            .select_from(_FTS)
            .join(Article, Article.id == _FTS.c.rowid)
            .where(text("articles_fts MATCH :match").bindparams(match=match))
        )
    statement = statement.where(*_filters(request, when))
    if node is not None and request.sort == "relevance":
        statement = statement.order_by(_RANK, Article.id.desc())
    else:
        statement = statement.order_by(when.desc(), Article.id.desc())
    statement = statement.limit(request.limit).offset(request.offset)
    rows = session.execute(statement).all()
    snippets = {row[0]: row[2] for row in rows} if node is not None else {}
    return load_rows(session, [row[0] for row in rows], snippets)


def _filters(request: SearchRequest, when: Any) -> list[Any]:
    filters: list[Any] = []
    if request.topics:
        condition = [Tag.article_id == Article.id, Tag.topic.in_(request.topics)]
        if request.min_score is not None:
            condition.append(Tag.score >= request.min_score)
        filters.append(exists().where(*condition))
    elif request.min_score is not None:
        filters.append(exists().where(Tag.article_id == Article.id, Tag.score >= request.min_score))
    if request.sources:
        names = [s.casefold() for s in request.sources]
        filters.append(
            exists().where(
                ArticleSource.article_id == Article.id,
                Source.id == ArticleSource.source_id,
                or_(func.lower(Source.name).in_(names), Source.url.in_(request.sources)),
            )
        )
    if request.language:
        filters.append(Article.language == request.language.lower())
    if request.since:
        filters.append(when >= request.since)
    if request.until:
        filters.append(when < request.until)
    return filters


def load_rows(
    session: Session, ids: list[int], snippets: dict[int, str] | None = None
) -> list[ArticleRow]:
    """Full rows for ``ids`` in that order, with sources and topics in two queries."""
    if not ids:
        return []
    articles = {
        a.id: a for a in session.execute(select(Article).where(Article.id.in_(ids))).scalars()
    }
    sources: dict[int, list[str]] = {}
    for article_id, name in session.execute(
        select(ArticleSource.article_id, Source.name)
        .join(Source, Source.id == ArticleSource.source_id)
        .where(ArticleSource.article_id.in_(ids))
        .order_by(ArticleSource.first_seen_at, Source.name)
    ):
        sources.setdefault(article_id, []).append(name)
    topics: dict[int, list[tuple[str, float]]] = {}
    for article_id, topic, score in session.execute(
        select(Tag.article_id, Tag.topic, Tag.score)
        .where(Tag.article_id.in_(ids))
        .order_by(Tag.score.desc())
    ):
        topics.setdefault(article_id, []).append((topic, score))
    rows = []
    for article_id in ids:
        article = articles.get(article_id)
        if article is None:
            continue
        snippet = (snippets or {}).get(article_id) or _lead(article.text or article.summary)
        rows.append(
            ArticleRow(
                id=article.id,
                url=article.canonical_url,
                title=article.title,
                published=article.published_at,
                fetched=article.fetched_at,
                language=article.language,
                extraction=article.extraction,
                sources=tuple(sources.get(article_id, ())),
                topics=tuple(topics.get(article_id, ())),
                snippet=snippet,
                story_id=article.story_id,
            )
        )
    return rows


def _lead(body: str, size: int = 200) -> str:
    flat = " ".join(body.split())
    return flat if len(flat) <= size else flat[: size - 1].rsplit(" ", 1)[0] + "…"


def count_articles(session: Session) -> int:
    return session.execute(select(func.count()).select_from(Article)).scalar_one()


__all__ = ["ArticleRow", "SearchRequest", "count_articles", "load_rows", "search"]
