"""One fetched article, in order: normalise → dedupe → classify → store → owe alerts.

This is the one place to read to know how an article enters the archive. Spiders
call it through the :class:`spiders.items.Sink` protocol; each article is one
transaction, so a crash loses at most the article being written, and the alerts
it owes are written in that same transaction (never an article without its
alerts, never an alert without its article).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from monitor.rules import Classifier, Document, Tag
from monitor.urls import canonical_url, content_fingerprint, title_key
from spiders.items import FetchedArticle, PollOutcome
from storage.articles import (
    add_urls,
    article_by_fingerprint,
    article_by_urls,
    link_source,
    replace_tags,
    story_for,
)
from storage.db import Archive
from storage.models import Article, Source
from storage.sources import record_poll

log = logging.getLogger(__name__)
FUTURE_TOLERANCE = timedelta(hours=2)
ArticleHook = Callable[[Session, Article, Sequence[Tag]], None]


def utcnow() -> datetime:
    return datetime.now(UTC)


class ArchiveSink:
    """The :class:`~spiders.items.Sink` that stores into an :class:`~storage.db.Archive`.

    ``on_new_article`` hooks run inside the article's transaction; the alert
    outbox registers one to owe alerts atomically with the tags.
    """

    def __init__(
        self,
        archive: Archive,
        classifier: Classifier,
        *,
        on_new_article: Sequence[ArticleHook] = (),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.archive = archive
        self.classifier = classifier
        self.on_new_article = list(on_new_article)
        self.clock = clock
        self.stored: list[int] = []

    def is_known(self, source_id: int, url: str) -> bool:
        with self.archive.session() as session:
            article = article_by_urls(session, [canonical_url(url)])
            if article is None:
                return False
            link_source(session, article.id, source_id, url, self.clock())
            return True

    def accept_article(self, fetched: FetchedArticle) -> bool:
        with self.archive.session() as session:
            return self._store(session, fetched)

    def _store(self, session: Session, fetched: FetchedArticle) -> bool:
        now = self.clock()
        urls = [
            canonical_url(u) for u in (fetched.canonical_url, fetched.url, *fetched.aliases) if u
        ]
        if not urls:
            urls = [synthetic_url(fetched)]
        fingerprint = content_fingerprint(fetched.title, fetched.text)
        existing = article_by_urls(session, urls) or article_by_fingerprint(session, fingerprint)
        if existing is not None:
            add_urls(session, existing, urls)
            link_source(session, existing.id, fetched.source_id, fetched.url or urls[0], now)
            return False

        published = sane_date(fetched.published, now)
        moment = published or now
        article = Article(
            canonical_url=urls[0],
            title=fetched.title.strip(),
            text=fetched.text.strip(),
            summary=fetched.entry.summary[:2000],
            author=fetched.author,
            language=(fetched.language or "").split("-")[0].lower() or None,
            published_at=published,
            fetched_at=now,
            extraction=fetched.extraction,
            extraction_note=fetched.note,
            content_hash=fingerprint,
            story_id=story_for(session, title_key(fetched.title), moment).id,
        )
        session.add(article)
        session.flush()
        add_urls(session, article, urls)
        link_source(session, article.id, fetched.source_id, fetched.url or urls[0], now)
        tags = self.classifier.classify(
            Document(title=article.title, text=article.text, language=article.language)
        )
        replace_tags(session, article, [(t.topic, t.score, t.to_json()) for t in tags], now)
        for hook in self.on_new_article:
            hook(session, article, tags)
        session.flush()
        self.stored.append(article.id)
        return True

    def finish_source(self, outcome: PollOutcome) -> None:
        with self.archive.session() as session:
            source = session.get(Source, outcome.source_id)
            if source is not None:
                record_poll(session, source, outcome, self.clock())


def sane_date(value: datetime | None, now: datetime) -> datetime | None:
    """Publication dates in the future are feed bugs; they must not sort above real news."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if value > now + FUTURE_TOLERANCE:
        return now
    if value.year < 1990:
        return None
    return value


def trusted_canonical(url: str | None) -> str | None:
    """A rel=canonical pointing at a site's front page is a template bug, not an identity."""
    if not url:
        return None
    return url if urlsplit(url).path.strip("/") else None


def synthetic_url(fetched: FetchedArticle) -> str:
    """Entries without any link still need a stable identity."""
    basis = f"{fetched.source_id}|{fetched.entry.guid or ''}|{fetched.title}"
    return "urn:newsmon:entry:" + hashlib.sha256(basis.encode()).hexdigest()[:32]
