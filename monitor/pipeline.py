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
    NewArticle,
    StoredArticle,
    add_urls,
    articles_of_urls,
    find_article,
    insert_article,
    link_source,
    unlinked_articles,
)
from storage.db import Archive
from storage.sources import record_polls

log = logging.getLogger(__name__)
FUTURE_TOLERANCE = timedelta(hours=2)
OUTCOME_BATCH = 200
ArticleHook = Callable[[Session, StoredArticle, Sequence[Tag]], None]


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
        self._outcomes: list[tuple[PollOutcome, datetime]] = []

    def known_urls(self, source_id: int, urls: list[str]) -> set[str]:
        canonical = {url: canonical_url(url) for url in urls}
        with self.archive.reader() as session:
            owners = articles_of_urls(session, set(canonical.values()))
            unlinked = unlinked_articles(session, source_id, set(owners.values()))
        if unlinked:  # a write transaction only when a source meets a stored article anew
            with self.archive.session() as session:
                for url, key in canonical.items():
                    if owners.get(key) in unlinked:
                        link_source(session, owners[key], source_id, url, self.clock())
                        unlinked.discard(owners[key])
        return {url for url, key in canonical.items() if key in owners}

    def accept_article(self, fetched: FetchedArticle) -> bool:
        with self.archive.session() as session:
            return self._store(session, fetched)

    def _store(self, session: Session, fetched: FetchedArticle) -> bool:
        now = self.clock()
        claimed = trusted_canonical(fetched.canonical_url)
        urls = [canonical_url(u) for u in (claimed, fetched.url, *fetched.aliases) if u]
        if not urls:
            urls = [synthetic_url(fetched)]
        urls = list(dict.fromkeys(urls))
        fingerprint = content_fingerprint(fetched.title, fetched.text)
        source_url = fetched.url or urls[0]
        existing = find_article(session, urls, fingerprint)
        if existing is None:
            stored = self._insert(session, fetched, urls, fingerprint, source_url, now)
            if stored is not None:
                return True
            # Another daemon committed this article while we classified it: link that copy.
            existing = find_article(session, urls, fingerprint)
        if existing is not None:
            add_urls(session, existing, urls)
            link_source(session, existing, fetched.source_id, source_url, now)
        return False

    def _insert(
        self,
        session: Session,
        fetched: FetchedArticle,
        urls: list[str],
        fingerprint: str | None,
        source_url: str,
        now: datetime,
    ) -> StoredArticle | None:
        language = (fetched.language or "").split("-")[0].lower() or None
        title, text = fetched.title.strip(), fetched.text.strip()
        tags = self.classifier.classify(Document(title=title, text=text, language=language))
        new = NewArticle(
            canonical_url=urls[0],
            title=title,
            text=text,
            summary=fetched.entry.summary[:2000],
            author=fetched.author,
            language=language,
            published_at=sane_date(fetched.published, now),
            fetched_at=now,
            extraction=fetched.extraction,
            extraction_note=fetched.note,
            content_hash=fingerprint,
            title_key=title_key(title),
        )
        stored = insert_article(
            session,
            new,
            urls=urls,
            source_id=fetched.source_id,
            source_url=source_url,
            tags=[(t.topic, t.score, t.to_json()) for t in tags],
        )
        if stored is None:
            return None
        for hook in self.on_new_article:
            hook(session, stored, tags)
        return stored

    def finish_source(self, outcome: PollOutcome) -> None:
        """Outcomes are written in batches: one transaction per 200 sources, not per source.

        Delaying is safe: a source's validators are stored after its articles, and
        an outcome lost in a crash only means the next poll fetches in full.
        """
        self._outcomes.append((outcome, self.clock()))
        if len(self._outcomes) >= OUTCOME_BATCH:
            self.flush()

    def flush(self) -> None:
        pending, self._outcomes = self._outcomes, []
        if not pending:
            return
        with self.archive.session() as session:
            record_polls(session, pending)


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
