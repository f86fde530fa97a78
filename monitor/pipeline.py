"""One fetched article, in order: normalise → dedupe → classify → store → owe alerts.

This is the one place to read to know how an article enters the archive. Spiders
call it through the :class:`spiders.items.Sink` protocol. An article and the
alerts it owes are written in one transaction (never an article without its
alerts, never an alert without its article). Articles arriving together share
that transaction: a first poll stores hundreds a second, and a commit per article
cost a fifth of the daemon's time. Batches stay small all the same: writing one
holds the event loop, and the extraction workers have only the calls queued in
their pipes to go on with until it returns. A batch is written when it holds
``ARTICLE_BATCH`` articles, when its oldest has waited ``ARTICLE_DELAY_S``, or
before the outcome of a source with articles in it is recorded, so a source's
validators are still stored only after its articles. A crash loses at most the
batch being written, and a lost batch is fetched again: its sources' validators
were not stored either.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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
ARTICLE_BATCH = 16
ARTICLE_DELAY_S = 0.5
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
        self._pending: list[FetchedArticle] = []
        self._written: dict[int, _Written] = {}
        self._timer: asyncio.TimerHandle | None = None

    def known_urls(self, source_id: int, urls: list[str]) -> set[str]:
        waiting = {u for f in self._pending for u in (f.url, *f.aliases)}
        if waiting.intersection(urls):
            self.write_pending()  # a waiting article is about to be met again: store it first
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

    def accept_article(self, fetched: FetchedArticle) -> None:
        """Queue an article; it is stored by the time its source's outcome is recorded."""
        self._pending.append(fetched)
        if len(self._pending) >= ARTICLE_BATCH:
            self.write_pending()
        elif len(self._pending) == 1:
            self._start_timer()

    def store(self, fetched: FetchedArticle) -> bool:
        """Store one article now, in its own transaction; True if it was new."""
        with self.archive.session() as session:
            return self._store(session, fetched)

    def write_pending(self) -> None:
        """Store the queued articles in one transaction.

        If that fails, each is tried again in its own, so one bad article (or a
        disk that fills up halfway) costs only the articles that cannot be written;
        those are reported on their sources' outcomes, whose validators are then dropped.
        """
        batch, self._pending = self._pending, []
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not batch:
            return
        try:
            with self.archive.session() as session:
                results: list[bool | Exception] = [self._store(session, f) for f in batch]
        except Exception:
            results = [self._store_alone(f) for f in batch]
        for fetched, result in zip(batch, results, strict=True):
            written = self._written.setdefault(fetched.source_id, _Written())
            if isinstance(result, Exception):
                written.failures.append(f"{fetched.url or fetched.entry.guid}: {result}")
            elif result:
                written.new += 1

    def _store_alone(self, fetched: FetchedArticle) -> bool | Exception:
        try:
            return self.store(fetched)
        except Exception as exc:
            log.warning("cannot store %s: %s", fetched.url, exc)
            return exc

    def _start_timer(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside an event loop: nothing would fire the timer
            self.write_pending()
            return
        self._timer = loop.call_later(ARTICLE_DELAY_S, self.write_pending)

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
        if any(f.source_id == outcome.source_id for f in self._pending):
            self.write_pending()
        written = self._written.pop(outcome.source_id, None)
        if written is not None:
            outcome.new += written.new
            if written.failures:
                outcome.failed_articles += len(written.failures)
                outcome.warnings.extend(written.failures)
                outcome.complete = False  # the next poll must fetch in full, not get a 304
                outcome.etag = outcome.last_modified = None
        self._outcomes.append((outcome, self.clock()))
        if len(self._outcomes) >= OUTCOME_BATCH:
            self.flush()

    def flush(self) -> None:
        """Write what is waiting: queued articles first, then the outcomes that cover them."""
        self.write_pending()
        pending, self._outcomes = self._outcomes, []
        if not pending:
            return
        with self.archive.session() as session:
            record_polls(session, pending)


@dataclass
class _Written:
    """What became of one source's queued articles, until its outcome is recorded."""

    new: int = 0
    failures: list[str] = field(default_factory=list)


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
