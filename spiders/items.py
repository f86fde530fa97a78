"""The values that cross from fetching into the rest of newsmon.

Spiders know nothing of the database: they receive :class:`SourceSpec` values,
hand :class:`FetchedArticle` and :class:`PollOutcome` values to a :class:`Sink`,
and ask it one question, "which of these URLs are stored?", so a feed poll never
downloads a page it already has.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

# "page": the URL is itself one article (newsmon classify --url).
SourceKind = Literal["feed", "sitemap", "listing", "auto", "page"]


@dataclass(frozen=True)
class SourceSpec:
    """One source to poll, with the validators of its last successful poll."""

    id: int
    name: str
    url: str
    kind: SourceKind = "feed"
    link_selector: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    fetch_articles: bool = True


@dataclass(frozen=True)
class Entry:
    """What a feed, sitemap or listing says about one article before we fetch it."""

    url: str | None
    guid: str | None = None
    title: str = ""
    summary: str = ""
    published: datetime | None = None
    author: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class FetchedArticle:
    """One article ready for the pipeline.

    ``extraction`` says how complete it is: ``full`` (page text extracted),
    ``feed`` (page unreachable or not fetched: feed title/summary only), or
    ``failed`` (page fetched but no text could be extracted from it).
    """

    source_id: int
    entry: Entry
    url: str
    title: str
    text: str
    extraction: Literal["full", "feed", "failed"]
    canonical_url: str | None = None
    author: str | None = None
    published: datetime | None = None
    language: str | None = None
    note: str | None = None
    aliases: tuple[str, ...] = ()


@dataclass
class PollOutcome:
    """How one source's poll went; filled in as its requests complete."""

    source_id: int
    status: Literal["ok", "not_modified", "failed"] = "ok"
    http_status: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    detected_kind: SourceKind | None = None
    error: str | None = None
    entries: int = 0
    new: int = 0
    known: int = 0
    failed_articles: int = 0
    warnings: list[str] = field(default_factory=list)
    complete: bool = True  # every entry of the poll is stored (else its validators are dropped)
    started_at: datetime | None = None
    finished_at: datetime | None = None


class Sink(Protocol):
    """Where spiders deliver; implemented by :mod:`monitor.pipeline`."""

    def known_urls(self, source_id: int, urls: list[str]) -> set[str]:
        """Those of ``urls`` that lead to stored articles (now also linked to this source)."""

    def accept_article(self, article: FetchedArticle) -> None:
        """Take an article to store; it may wait to be written with others."""

    def finish_source(self, outcome: PollOutcome) -> None:
        """Every request of this source's poll is done: store what is left of its articles,
        add how many were new (and any that could not be stored) to ``outcome``, record it."""
