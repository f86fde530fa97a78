"""The JSON API (OpenAPI schema at /api/openapi.json)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from monitor.web.app import reader
from monitor.web.params import Filters, filters
from storage.reading import article_detail, topic_counts
from storage.search import ArticleRow, count_matches, search_page, stats
from storage.sources import source_health

router = APIRouter(prefix="/api", tags=["archive"])
ReadSession = Annotated[Session, Depends(reader)]
Search = Annotated[Filters, Depends(filters)]


class ArticleOut(BaseModel):
    id: int
    url: str
    title: str
    source: str
    sources: list[str]
    published: datetime | None
    fetched: datetime
    language: str | None
    topics: list[str]
    scores: dict[str, float]
    extraction: str
    snippet: str
    story_id: int | None

    @classmethod
    def of(cls, row: ArticleRow) -> ArticleOut:
        return cls.model_validate(row.to_json())


class ArticlePage(BaseModel):
    items: list[ArticleOut]
    next_cursor: str | None
    total: int | None


class Carrier(BaseModel):
    source: str
    url: str
    article_id: int
    first_seen: datetime


class TopicMatch(BaseModel):
    topic: str
    score: float
    hits: list[list[Any]]


class ArticleFull(BaseModel):
    id: int
    url: str
    title: str
    text: str
    author: str | None
    language: str | None
    published: datetime | None
    fetched: datetime
    extraction: str
    extraction_note: str | None
    story_id: int | None
    urls: list[str]
    carried_by: list[Carrier]
    topics: list[TopicMatch]


class TopicOut(BaseModel):
    name: str
    articles: int
    description: str | None
    query: str | None


class SourceOut(BaseModel):
    name: str
    url: str
    kind: str
    enabled: bool
    articles: int
    last_success: datetime | None
    last_error: str | None
    consecutive_failures: int


class StatsRow(BaseModel):
    period: str
    group: str
    articles: int


@router.get("/articles", response_model=ArticlePage, summary="Search articles")
def list_articles(
    session: ReadSession,
    search: Search,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    total: Annotated[bool, Query(description="also count every match")] = False,
) -> ArticlePage:
    """Full-text search with filters; newest first without ``q``. Page on with ``cursor``."""
    request = search.request(limit=limit, cursor=cursor)
    page = search_page(session, request)
    return ArticlePage(
        items=[ArticleOut.of(row) for row in page.rows],
        next_cursor=page.next_cursor,
        total=count_matches(session, request) if total else None,
    )


@router.get("/articles/{article_id}", response_model=ArticleFull, summary="One article")
def get_article(article_id: int, session: ReadSession) -> ArticleFull:
    detail = article_detail(session, article_id)
    if detail is None:
        raise HTTPException(404, f"no article with id {article_id}")
    return ArticleFull(
        id=detail.id, url=detail.url, title=detail.title, text=detail.text, author=detail.author,
        language=detail.language, published=detail.published, fetched=detail.fetched,
        extraction=detail.extraction, extraction_note=detail.extraction_note,
        story_id=detail.story_id, urls=list(detail.urls),
        carried_by=[Carrier(source=c.source, url=c.url, article_id=c.article_id,
                            first_seen=c.first_seen) for c in detail.carriers],
        topics=[TopicMatch(topic=t, score=s, hits=e.get("hits", [])) for t, s, e in detail.tags],
    )  # fmt: skip


@router.get("/topics", response_model=list[TopicOut], summary="Configured topics")
def list_topics(request: Request, session: ReadSession) -> list[TopicOut]:
    configured = request.app.state.config.topics
    counts = dict(topic_counts(session))
    names = sorted(set(configured) | set(counts))
    return [
        TopicOut(
            name=name, articles=counts.get(name, 0),
            description=configured[name].description if name in configured else None,
            query=configured[name].query if name in configured else None,
        )
        for name in names
    ]  # fmt: skip


@router.get("/sources", response_model=list[SourceOut], summary="Sources and their health")
def list_sources(session: ReadSession) -> list[SourceOut]:
    return [
        SourceOut(
            name=h.name, url=h.url, kind=h.kind, enabled=h.enabled, articles=h.articles,
            last_success=h.last_success_at, last_error=h.last_error,
            consecutive_failures=h.consecutive_failures,
        )
        for h in source_health(session)
    ]  # fmt: skip


@router.get("/stats", response_model=list[StatsRow], summary="Articles over time")
def get_stats(
    session: ReadSession,
    search: Search,
    by: Literal["day", "week", "month"] = "day",
    per: Literal["all", "topic", "source"] = "topic",
) -> list[StatsRow]:
    """Counts per period (a week is named by its Monday) and per topic or source."""
    rows = stats(session, search.request(), by=by, per=None if per == "all" else per)
    return [StatsRow(period=p, group=g, articles=n) for p, g, n in rows]
