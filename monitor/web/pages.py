"""The HTML pages: search, article, sources, trends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from monitor.web.app import reader, templates
from monitor.web.chart import line_chart
from monitor.web.params import Filters, filters
from monitor.web.present import (
    marked_paragraphs,
    marked_title,
    matched_terms,
    snippet_html,
    text_spans,
)
from storage.reading import article_detail, topic_counts
from storage.search import count_matches, facets, search_page, stats
from storage.sources import source_health

router = APIRouter(include_in_schema=False)
ReadSession = Annotated[Session, Depends(reader)]
Search = Annotated[Filters, Depends(filters)]


def link(pairs: list[tuple[str, str]], path: str = "/") -> str:
    return path + ("?" + urlencode(pairs) if pairs else "")


def toggled(search: Filters, key: str, value: str) -> str:
    """The current search with one topic/source filter added, or removed if it was on."""
    pairs = search.items()
    if (key, value) in pairs:
        pairs.remove((key, value))
    else:
        pairs.append((key, value))
    return link(pairs)


def page(request: Request, template: str, **context: Any) -> HTMLResponse:
    config = request.app.state.config
    return templates.TemplateResponse(request, template, {"config": config, **context})


@router.get("/", response_class=HTMLResponse)
def search_page_view(
    request: Request, session: ReadSession, search: Search, cursor: str | None = None
) -> HTMLResponse:
    size = request.app.state.config.web.page_size
    wanted = search.request(limit=size, cursor=cursor)
    result = search_page(session, wanted)
    next_link = None
    if result.next_cursor:
        next_link = link([*search.items(), ("cursor", result.next_cursor)])
    return page(
        request, "search.html",
        search=search, rows=result.rows, total=count_matches(session, wanted),
        facets=facets(session, wanted), snippet_html=snippet_html,
        next_link=next_link,
        first_link=link(search.items()) if cursor else None,
        toggled=lambda key, value: toggled(search, key, value),
        topics=[name for name, _n in topic_counts(session)],
        feed_link=link(search.items(), "/feeds/search.atom"),
    )  # fmt: skip


@router.get("/articles/{article_id}", response_class=HTMLResponse)
def article_view(article_id: int, request: Request, session: ReadSession) -> HTMLResponse:
    detail = article_detail(session, article_id)
    if detail is None:
        raise HTTPException(404, f"no article with id {article_id}")
    topics = [
        (topic, score, matched_terms(explanation)) for topic, score, explanation in detail.tags
    ]
    body = detail.text or detail.summary
    return page(
        request, "article.html", article=detail, topics=topics,
        title_html=marked_title(detail.title, text_spans(detail.tags, "title")),
        paragraphs=marked_paragraphs(body, text_spans(detail.tags, "text" if detail.text else "")),
    )  # fmt: skip


@router.get("/sources", response_class=HTMLResponse)
def sources_view(request: Request, session: ReadSession) -> HTMLResponse:
    return page(request, "sources.html", sources=source_health(session))


@router.get("/trends", response_class=HTMLResponse)
def trends_view(
    request: Request, session: ReadSession, search: Search, days: int = 30
) -> HTMLResponse:
    days = max(7, min(days, 365))
    if not search.since:
        search.since = (datetime.now(UTC) - timedelta(days=days)).date().isoformat()
    rows = stats(session, search.request(), by="day", per="topic")
    return page(request, "trends.html", search=search, chart=line_chart(rows), rows=rows, days=days)
