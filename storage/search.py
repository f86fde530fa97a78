"""The one query API over the archive, used by the CLI, the web UI and the tests.

A :class:`SearchRequest` says what to find; :func:`search` answers with
:class:`ArticleRow` values. Full text goes through FTS5 on SQLite and a
tsvector on PostgreSQL (:mod:`storage.search_pg`); filters (topic, source,
language, dates, score) are plain indexed SQL, so the same request works with or
without a text query, on either backend.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, Literal

from sqlalchemy import and_, column, exists, func, literal_column, or_, select, table, text
from sqlalchemy.orm import Session

from monitor.errors import NewsmonError
from storage import search_pg
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

    Three plans, each chosen so the cost does not grow with the archive:

    * no text query: walk the (date, id) index newest first, checking filters;
    * text query by relevance: rank (bm25) the newest ``RANK_WINDOW`` matches that pass
      the filters, so a word found in half the archive costs what a rare one does;
    * text query by date: few matches are looked up and sorted; many matches are found
      by walking the date index and stopping at the first page full.

    ``offset`` is kept for small jumps; ``cursor`` is what deep paging should use.
    """
    node = parse_query(request.query or "")
    after = _decode_cursor(request.cursor) if request.cursor else None
    if node is None:
        rows = _newest_first(session, request, after)
        snippets: Callable[[list[int]], dict[int, str]] = _no_snippets
    elif _is_postgres(session):
        rows, snippets = _pg_plan(session, request, node, after)
    else:
        match = to_fts5(node)
        if request.sort == "relevance":
            rows = _ranked(session, request, match, after)
        else:
            rows = _dated_matches(session, request, match, after)
        snippets = partial(_snippets, session, match)
    more = len(rows) > request.limit
    rows = rows[: request.limit]
    next_cursor = _encode_cursor(rows[-1][1], rows[-1][0]) if more and rows else None
    ids = [article_id for article_id, _key in rows]
    return SearchPage(load_rows(session, ids, snippets(ids), with_text=with_text), next_cursor)


RANK_WINDOW = 2000
DENSE_MATCHES = 2000
Rows = list[tuple[int, Any]]


def _no_snippets(ids: list[int]) -> dict[int, str]:
    return {}  # without a text query, rows show the article's lead instead


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _pg_plan(session: Session, request: SearchRequest, node: Any, after: Any) -> tuple[Rows, Any]:
    """The same plans on PostgreSQL (tsvector + GIN; see storage.search_pg)."""
    condition, query = search_pg.compile_query(node)
    if request.sort == "relevance":
        window = (
            select(Article.id.label("id"), search_pg.rank(query).label("rank"))
            .where(condition, *_filters(request, Article.id, direct=True))
            .order_by(Article.id.desc())
            .limit(RANK_WINDOW)
            .subquery()
        )
        rows = [(i, float(r)) for i, r in _best_first(session, request, after, window)]
    else:
        rows = _newest_first(session, request, after, condition)
    return rows, partial(search_pg.headlines, session, query)


def _match(query: str) -> Any:
    return text("articles_fts MATCH :match").bindparams(match=query)


def _page_bounds(statement: Any, request: SearchRequest, after: Any) -> Any:
    statement = statement.limit(request.limit + 1)
    if request.offset and after is None:
        statement = statement.offset(request.offset)
    return statement


def _newest_first(session: Session, request: SearchRequest, after: Any, *conditions: Any) -> Rows:
    """Newest first through the (date, id) index; filters are checked as it walks."""
    statement = select(Article.id, _WHEN).where(
        *conditions, *_filters(request, Article.id, direct=True)
    )
    if after is not None:
        statement = statement.where(_after_moment(Article.id, after))
    statement = statement.order_by(_WHEN.desc(), Article.id.desc())
    page = session.execute(_page_bounds(statement, request, after))
    return [(i, _moment_key(w)) for i, w in page]


def _best_first(session: Session, request: SearchRequest, after: Any, window: Any) -> Any:
    """Rows of a ranked window (``id``, ``rank``: lower is better) from the cursor on."""
    statement = select(window.c.id, window.c.rank)
    if after is not None:
        key, last_id = after
        statement = statement.where(
            or_(window.c.rank > key, and_(window.c.rank == key, window.c.id < last_id))
        )
    statement = statement.order_by(window.c.rank, window.c.id.desc())
    return session.execute(_page_bounds(statement, request, after))


def _ranked(session: Session, request: SearchRequest, match: str, after: Any) -> Rows:
    rowid = _FTS.c.rowid
    window = (
        select(rowid.label("id"), _RANK)
        .select_from(_FTS)
        .where(_match(match), *_filters(request, rowid))
        .order_by(rowid.desc())
        .limit(RANK_WINDOW)
        .subquery()
    )
    return [(i, r) for i, r in _best_first(session, request, after, window)]


def _dated_matches(session: Session, request: SearchRequest, match: str, after: Any) -> Rows:
    matches = select(_FTS.c.rowid).select_from(_FTS).where(_match(match))
    total = session.execute(select(func.count()).select_from(matches.subquery())).scalar_one()
    # Many matches: walk the date index (a unary + keeps SQLite off the id lookup) and stop
    # at the first page full. Few: look each one up and sort them.
    member = literal_column("+articles.id") if total > DENSE_MATCHES else Article.id
    return _newest_first(session, request, after, member.in_(matches))


def _after_moment(id_column: Any, after: Any) -> Any:
    key, last_id = after
    moment = _parse_moment(key)
    return or_(_WHEN < moment, and_(_WHEN == moment, id_column < last_id))  # noqa: SIM300


def _snippets(session: Session, match: str, ids: list[int]) -> dict[int, str]:
    """Snippets for one page only: computing them for every match is the slow part."""
    if not ids:
        return {}
    rowid = _FTS.c.rowid
    # One scan over the page's rowid range, snippets only for the page's rows. Handing the
    # ids to FTS5 one by one (rowid = ?) re-expands a prefix query per id: 20x slower.
    statement = (
        select(rowid, _SNIPPET)
        .select_from(_FTS)
        .where(
            _match(match),
            rowid.between(min(ids), max(ids)),
            literal_column("+articles_fts.rowid").in_(ids),
        )
    )
    return {row[0]: row[1] for row in session.execute(statement)}


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
    return session.execute(
        select(func.count()).select_from(_matching(session, request))
    ).scalar_one()


def _matching(session: Session, request: SearchRequest) -> Any:
    """A subquery of the ids the request matches, for counts and facets."""
    node = parse_query(request.query or "")
    if node is not None and _is_postgres(session):
        condition, _query = search_pg.compile_query(node)
        filters = _filters(request, Article.id, direct=True)
        return select(Article.id.label("id")).where(condition, *filters).subquery()
    if node is None:
        return (
            select(Article.id.label("id"))
            .where(*_filters(request, Article.id, direct=True))
            .subquery()
        )
    rowid = _FTS.c.rowid
    return (
        select(rowid.label("id"))
        .select_from(_FTS)
        .where(_match(to_fts5(node)), *_filters(request, rowid))
        .subquery()
    )


def facets(
    session: Session, request: SearchRequest, limit: int = 20
) -> dict[str, list[tuple[str, int]]]:
    """Topic and source counts over everything the request matches (the UI's filters)."""
    matching = _matching(session, request)
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


def _filters(request: SearchRequest, article_id: Any, *, direct: bool = False) -> list[Any]:
    """Conditions on ``article_id`` (the articles table's id, or the FTS rowid).

    With ``direct`` the articles table is in the query and its columns are tested
    in place; otherwise (an FTS scan) they become an indexed ``id IN (…)``.
    """
    filters: list[Any] = []
    if request.topics:
        condition = [Tag.article_id == article_id, Tag.topic.in_(request.topics)]
        if request.min_score is not None:
            condition.append(Tag.score >= request.min_score)
        filters.append(exists().where(*condition))
    elif request.min_score is not None:
        filters.append(exists().where(Tag.article_id == article_id, Tag.score >= request.min_score))
    if request.sources:
        names = [s.casefold() for s in request.sources]
        filters.append(
            exists().where(
                ArticleSource.article_id == article_id,
                Source.id == ArticleSource.source_id,
                or_(func.lower(Source.name).in_(names), Source.url.in_(request.sources)),
            )
        )
    own: list[Any] = []
    if request.language:
        own.append(Article.language == request.language.lower())
    if request.since:
        own.append(_WHEN >= request.since)  # noqa: SIM300
    if request.until:
        own.append(_WHEN < request.until)  # noqa: SIM300
    if own and direct:
        filters.extend(own)
    elif own:
        # The unary + keeps SQLite from handing these ids to FTS5 as rowid lookups (one
        # full MATCH per id); instead the matches are scanned and checked against the set.
        filters.append(literal_column("+articles_fts.rowid").in_(select(Article.id).where(*own)))
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
    matching = _matching(session, request)
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
