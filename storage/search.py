"""The one query API over the archive, used by the CLI, the web UI and the tests.

A :class:`SearchRequest` says what to find; :func:`search` answers with
:class:`ArticleRow` values. Full text goes through FTS5 on SQLite; filters
(topic, source, language, dates, score) are plain indexed SQL, so the same
request works with or without a text query.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import and_, column, exists, func, literal_column, or_, select, table, text
from sqlalchemy.orm import Session

from monitor.errors import NewsmonError
from storage.models import Article, ArticleSource, Source, Tag
from storage.query_syntax import parse_query, to_fts5

Sort = Literal["relevance", "date"]
_FTS = table("articles_fts", column("rowid"))
# Highlight markers from the private-use area: they cannot occur in stored text, so a
# presenter can escape the snippet and then turn them into <mark> or [brackets] safely.
MARK_START, MARK_END = "\ue000", "\ue001"
# Title hits weigh four times body hits; the snippet comes from whichever column matched.
_RANK = literal_column("bm25(articles_fts, 4.0, 1.0)").label("rank")
_SNIPPET = literal_column(
    f"snippet(articles_fts, -1, '{MARK_START}', '{MARK_END}', '…', 16)"
).label("snip")
_WHEN = func.coalesce(Article.published_at, Article.fetched_at)


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
    cursor: str | None = None


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
    text: str | None = None

    @property
    def source(self) -> str:
        return self.sources[0] if self.sources else ""

    def snippet_marked(self, start: str = "[", end: str = "]") -> str:
        return self.snippet.replace(MARK_START, start).replace(MARK_END, end)

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
            "snippet": self.snippet_marked(),
            "story_id": self.story_id,
        }


@dataclass(frozen=True)
class SearchPage:
    rows: list[ArticleRow]
    next_cursor: str | None


class CursorError(NewsmonError, ValueError):
    """A pagination cursor that this archive did not hand out."""


def _encode_cursor(sort_key: float | str, article_id: int) -> str:
    raw = json.dumps([sort_key, article_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[Any, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key, article_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(article_id, int) or not isinstance(key, str | int | float):
            raise ValueError
        return key, article_id
    except (ValueError, TypeError, binascii.Error):
        raise CursorError(
            "that page cursor is not valid; start again from the first page"
        ) from None


def search(session: Session, request: SearchRequest) -> list[ArticleRow]:
    return search_page(session, request).rows


def search_page(session: Session, request: SearchRequest, *, with_text: bool = False) -> SearchPage:
    """One page of results and the cursor of the next (keyset pagination: deep pages stay fast).

    ``offset`` is kept for small jumps; ``cursor`` is what deep paging should use.
    """
    node = parse_query(request.query or "")
    by_rank = node is not None and request.sort == "relevance"
    if node is not None:
        statement = (
            select(Article.id, _RANK, _SNIPPET, _WHEN.label("when"))
            .select_from(_FTS)
            .join(Article, Article.id == _FTS.c.rowid)
            .where(text("articles_fts MATCH :match").bindparams(match=to_fts5(node)))
        )
    else:
        statement = select(Article.id, _WHEN.label("when"))
    statement = statement.where(*_filters(request, _WHEN))
    if request.cursor:
        key, last_id = _decode_cursor(request.cursor)
        if by_rank:
            after = or_(_RANK > key, and_(_RANK == key, Article.id < last_id))  # noqa: SIM300
            statement = statement.where(after)
        else:
            moment = _parse_moment(key)
            after = or_(_WHEN < moment, and_(_WHEN == moment, Article.id < last_id))  # noqa: SIM300
            statement = statement.where(after)
    if by_rank:
        statement = statement.order_by(_RANK, Article.id.desc())
    else:
        statement = statement.order_by(_WHEN.desc(), Article.id.desc())
    statement = statement.limit(request.limit + 1)
    if request.offset and not request.cursor:
        statement = statement.offset(request.offset)
    rows = session.execute(statement).all()
    more = len(rows) > request.limit
    rows = rows[: request.limit]
    snippets = {row[0]: row[2] for row in rows} if node is not None else {}
    next_cursor = None
    if more and rows:
        last = rows[-1]
        key = last.rank if by_rank else _moment_key(last.when)
        next_cursor = _encode_cursor(key, last.id)
    ids = [row[0] for row in rows]
    return SearchPage(load_rows(session, ids, snippets, with_text=with_text), next_cursor)


def _moment_key(value: Any) -> str:
    """The sort timestamp as stored (naive UTC text on SQLite), so == compares exactly."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ")
    return str(value)


def _parse_moment(key: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(key)).replace(tzinfo=UTC)
    except ValueError:
        raise CursorError(
            "that page cursor is not valid; start again from the first page"
        ) from None


def count_matches(session: Session, request: SearchRequest) -> int:
    """How many articles the request matches in all (ignores limit, offset and cursor)."""
    return session.execute(select(func.count()).select_from(_matching(request))).scalar_one()


def _matching(request: SearchRequest) -> Any:
    """A subquery of the ids the request matches, for counts and facets."""
    node = parse_query(request.query or "")
    statement = select(Article.id.label("id"))
    if node is not None:
        statement = (
            select(Article.id.label("id"))
            .select_from(_FTS)
            .join(Article, Article.id == _FTS.c.rowid)
            .where(text("articles_fts MATCH :match").bindparams(match=to_fts5(node)))
        )
    return statement.where(*_filters(request, _WHEN)).subquery()


def facets(
    session: Session, request: SearchRequest, limit: int = 20
) -> dict[str, list[tuple[str, int]]]:
    """Topic and source counts over everything the request matches (the UI's filters)."""
    matching = _matching(request)
    topics = session.execute(
        select(Tag.topic, func.count())
        .join(matching, matching.c.id == Tag.article_id)
        .group_by(Tag.topic)
        .order_by(func.count().desc(), Tag.topic)
        .limit(limit)
    ).all()
    sources = session.execute(
        select(Source.name, func.count())
        .join(ArticleSource, ArticleSource.source_id == Source.id)
        .join(matching, matching.c.id == ArticleSource.article_id)
        .group_by(Source.name)
        .order_by(func.count().desc(), Source.name)
        .limit(limit)
    ).all()
    return {
        "topics": [(name, int(n)) for name, n in topics],
        "sources": [(name, int(n)) for name, n in sources],
    }


def iter_rows(
    session: Session, request: SearchRequest, *, page_size: int = 500, with_text: bool = False
) -> Iterator[ArticleRow]:
    """Every matching row, a page at a time: bounded memory however large the selection."""
    cursor = None
    while True:
        paged = replace(request, limit=page_size, cursor=cursor, offset=0)
        page = search_page(session, paged, with_text=with_text)
        yield from page.rows
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


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
    session: Session,
    ids: list[int],
    snippets: dict[int, str] | None = None,
    *,
    with_text: bool = False,
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
                text=article.text if with_text else None,
            )
        )
    return rows


def _lead(body: str, size: int = 200) -> str:
    flat = " ".join(body.split())
    return flat if len(flat) <= size else flat[: size - 1].rsplit(" ", 1)[0] + "…"


def count_articles(session: Session) -> int:
    return session.execute(select(func.count()).select_from(Article)).scalar_one()


Bucket = Literal["day", "week", "month"]


def _bucket(session: Session, by: Bucket) -> Any:
    """The period as text: '2026-11-30' for a day or a week (named by its Monday), '2026-11'."""
    if session.get_bind().dialect.name == "postgresql":
        if by == "week":
            return func.to_char(func.date_trunc("week", _WHEN), "YYYY-MM-DD")
        return func.to_char(_WHEN, "YYYY-MM-DD" if by == "day" else "YYYY-MM")
    if by == "week":
        return func.date(_WHEN, "-6 days", "weekday 1")
    return func.strftime("%Y-%m-%d" if by == "day" else "%Y-%m", _WHEN)


def stats(
    session: Session, request: SearchRequest, *, by: Bucket = "day", per: str | None = None
) -> list[tuple[str, str, int]]:
    """(period, group, articles) rows, oldest first; ``per`` is None, "topic" or "source"."""
    matching = _matching(request)
    period = _bucket(session, by).label("period")
    if per == "topic":
        group: Any = Tag.topic
        statement = select(period, group, func.count(func.distinct(Article.id))).join(
            Tag, Tag.article_id == Article.id
        )
        if request.topics:
            statement = statement.where(Tag.topic.in_(request.topics))
    elif per == "source":
        group = Source.name
        statement = (
            select(period, group, func.count(func.distinct(Article.id)))
            .join(ArticleSource, ArticleSource.article_id == Article.id)
            .join(Source, Source.id == ArticleSource.source_id)
        )
    else:
        group = literal_column("'all'")
        statement = select(period, group, func.count())
    statement = (
        statement.select_from(Article)
        .join(matching, matching.c.id == Article.id)
        .group_by(period, group)
        .order_by(period, group)
    )
    return [(str(p), str(g), int(n)) for p, g, n in session.execute(statement).all()]


__all__ = [
    "ArticleRow",
    "CursorError",
    "SearchPage",
    "SearchRequest",
    "count_articles",
    "count_matches",
    "facets",
    "iter_rows",
    "load_rows",
    "search",
    "search_page",
    "stats",
]
