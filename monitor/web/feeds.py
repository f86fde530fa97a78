"""Atom feeds for a topic or any saved search, for feed readers (generated with feedgen)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from feedgen.feed import FeedGenerator
from sqlalchemy.orm import Session

from monitor import __version__
from monitor.web.app import reader
from monitor.web.params import Filters, filters
from storage.search import ArticleRow, SearchRequest, search

router = APIRouter(prefix="/feeds", tags=["feeds"])
ReadSession = Annotated[Session, Depends(reader)]
FEED_SIZE = 50
ATOM = "application/atom+xml; charset=utf-8"
EMPTY_FEED_UPDATED = datetime(2000, 1, 1, tzinfo=UTC)  # Atom needs <updated> even with no entries


def atom(request: Request, title: str, rows: list[ArticleRow]) -> Response:
    feed = FeedGenerator()
    self_url = str(request.url)
    feed.id(self_url.split("?token=")[0])
    feed.title(title)
    feed.author({"name": "newsmon"})
    feed.generator("newsmon", version=__version__)
    feed.link(href=self_url, rel="self")
    feed.link(href=str(request.base_url), rel="alternate")
    feed.updated(max((row.fetched for row in rows), default=EMPTY_FEED_UPDATED))
    for row in reversed(rows):  # feedgen prepends: oldest first keeps newest on top
        entry = feed.add_entry()
        entry.id(f"urn:newsmon:article:{row.id}")
        entry.title(row.title or row.url)
        entry.link(href=row.url)
        entry.published(row.published or row.fetched)
        entry.updated(row.fetched)
        entry.summary(row.snippet_marked("", ""))
        entry.author({"name": ", ".join(row.sources) or "unknown source"})
        for topic, _score in row.topics:
            entry.category(term=topic)
    return Response(feed.atom_str(pretty=True), media_type=ATOM)


@router.get("/topic/{name}.atom", summary="Newest articles of a topic")
def topic_feed(name: str, request: Request, session: ReadSession) -> Response:
    if name not in request.app.state.config.topics:
        raise HTTPException(404, f"no topic named {name!r}")
    rows = search(session, SearchRequest(topics=(name,), sort="date", limit=FEED_SIZE))
    return atom(request, f"newsmon: {name}", rows)


@router.get("/search.atom", summary="Newest articles of any search")
def search_feed(
    request: Request, session: ReadSession, search_filters: Annotated[Filters, Depends(filters)]
) -> Response:
    wanted = search_filters.request(limit=FEED_SIZE)
    rows = search(session, SearchRequest(**{**wanted.__dict__, "sort": "date"}))
    label = search_filters.q or ", ".join(search_filters.topic) or "all articles"
    return atom(request, f"newsmon: {label}", rows)
