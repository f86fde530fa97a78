"""The one spider: polls feeds, news sitemaps and listing pages, then their articles.

A poll of a source is every request it causes: the feed (or sitemap, or page),
child sitemaps, and one request per new article. The spider counts a source's
open requests and calls ``sink.finish_source`` when the last one completes, so
the source's new ETag/Last-Modified are stored only after every article they
cover is stored: a crash mid-poll makes the next poll fetch the feed in full
rather than skip entries behind a 304.

Articles go straight to the sink from the callback (not through Scrapy's item
pipeline) for the same reason: the order "articles, then the outcome" is exact.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import scrapy
from scrapy.http import Request, Response, TextResponse
from twisted.python.failure import Failure

from monitor.errors import ParseError
from spiders.errors import describe_failure
from spiders.extract import Extractor
from spiders.feeds import parse_feed
from spiders.items import Entry, FetchedArticle, PollOutcome, Sink, SourceSpec
from spiders.listing import discover_feed, guess_article_links, select_links
from spiders.sitemaps import is_sitemap, parse_sitemap

log = logging.getLogger(__name__)
MAX_SITEMAP_DEPTH = 2


class SourceSpider(scrapy.Spider):
    name = "newsmon"

    def __init__(
        self,
        sources: Iterable[SourceSpec],
        sink: Sink,
        max_entries: int = 300,
        on_source_done: Callable[[PollOutcome], None] | None = None,
        extractor: Extractor | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.extractor = extractor or Extractor(0)
        self.sources = list(sources)
        self.sink = sink
        self.max_entries = max_entries
        self.on_source_done = on_source_done
        self.outcomes: dict[int, PollOutcome] = {}
        self._open: dict[int, int] = {}
        self._seen: dict[int, set[str]] = {}

    # -- bookkeeping -------------------------------------------------------------------------

    def _request(self, spec: SourceSpec, url: str, **kwargs: Any) -> Request:
        self._open[spec.id] = self._open.get(spec.id, 0) + 1
        meta = kwargs.pop("meta", {})
        return Request(url, meta={"spec": spec, **meta}, dont_filter=True, **kwargs)

    def _done(self, spec: SourceSpec) -> None:
        self._open[spec.id] -= 1
        if self._open[spec.id] == 0:
            self._finish(spec)

    def _finish(self, spec: SourceSpec) -> None:
        outcome = self.outcomes[spec.id]
        outcome.finished_at = datetime.now(UTC)
        if not outcome.complete:
            outcome.etag = outcome.last_modified = None
        self._open.pop(spec.id, None)
        self.sink.finish_source(outcome)
        if self.on_source_done:
            self.on_source_done(outcome)

    def closed(self, reason: str) -> None:
        """Sources whose requests never came back (engine stopped) still get an outcome."""
        for spec in self.sources:
            if spec.id in self._open:
                outcome = self.outcomes[spec.id]
                outcome.status = "failed"
                outcome.error = outcome.error or f"poll interrupted ({reason})"
                self._finish(spec)

    # -- the source request ------------------------------------------------------------------

    async def start(self) -> AsyncIterator[Request]:
        for spec in self.sources:
            self.outcomes[spec.id] = PollOutcome(spec.id, started_at=datetime.now(UTC))
            self._seen[spec.id] = set()
            headers = {}
            if spec.etag:
                headers["If-None-Match"] = spec.etag
            if spec.last_modified:
                headers["If-Modified-Since"] = spec.last_modified
            yield self._request(
                spec,
                spec.url,
                headers=headers,
                callback=self.parse_source,
                errback=self.source_failed,
                meta={"handle_httpstatus_list": [304], "kind": spec.kind, "depth": 0},
            )

    async def parse_source(self, response: Response) -> AsyncIterator[Request]:
        spec: SourceSpec = response.meta["spec"]
        outcome = self.outcomes[spec.id]
        try:
            if response.meta["depth"] == 0:
                outcome.http_status = response.status
                if response.status == 304:
                    outcome.status = "not_modified"
                    outcome.etag, outcome.last_modified = spec.etag, spec.last_modified
                    return
                outcome.etag = _header(response, b"ETag")
                outcome.last_modified = _header(response, b"Last-Modified")
            for request in await self._entries_to_requests(spec, response):
                yield request
        except ParseError as exc:
            outcome.status, outcome.error = "failed", str(exc)
        except Exception as exc:  # a bug or a pathological document must not stop others
            log.exception("unexpected error reading %s", response.url)
            outcome.status, outcome.error = "failed", f"internal error: {exc!r}"
        finally:
            self._done(spec)

    def source_failed(self, failure: Failure) -> None:
        spec: SourceSpec = failure.request.meta["spec"]
        outcome = self.outcomes[spec.id]
        outcome.status = "failed"
        message = describe_failure(failure)
        if failure.request.meta.get("depth", 0) > 0:
            message = f"{failure.request.url}: {message}"
        outcome.error = message
        response = getattr(failure.value, "response", None)
        if response is not None and outcome.http_status is None:
            outcome.http_status = response.status
        self._done(spec)

    async def _entries_to_requests(self, spec: SourceSpec, response: Response) -> list[Request]:
        """Parsing runs in the extraction pool: a 50 KB feed is ~40 ms of feedparser."""
        kind = response.meta["kind"]
        requests: list[Request] = []
        if kind == "page":
            self.outcomes[spec.id].entries += 1
            return self._follow(spec, [Entry(url=response.url, title="")])
        if kind == "auto":
            kind = self._sniff(response)
            self.outcomes[spec.id].detected_kind = kind
        if kind == "html":
            feed_url = discover_feed(_text(response), base_url=response.url)
            if feed_url:
                return [self._child(spec, feed_url, "feed", response)]
            entries = await self.extractor.run(
                guess_article_links, _text(response), base_url=response.url,
                max_entries=self.max_entries,
            )  # fmt: skip
            self.outcomes[spec.id].detected_kind = "listing"
        elif kind == "feed":
            entries, _format = await self.extractor.run(
                parse_feed, response.body, url=response.url,
                headers=_lower_headers(response), max_entries=self.max_entries,
            )  # fmt: skip
        elif kind == "sitemap":
            entries, children = await self.extractor.run(
                parse_sitemap, response.body, max_entries=self.max_entries
            )
            if response.meta["depth"] < MAX_SITEMAP_DEPTH:
                requests += [self._child(spec, child, "sitemap", response) for child in children]
        else:  # listing
            entries = await self.extractor.run(
                select_links, _text(response), base_url=response.url,
                selector=spec.link_selector or "a", max_entries=self.max_entries,
            )  # fmt: skip
        requests += self._follow(spec, entries)
        return requests

    def _sniff(self, response: Response) -> str:
        content_type = _header(response, b"Content-Type") or ""
        head = response.body[:4096].lstrip()
        if "json" in content_type or head[:1] == b"{":
            return "feed"
        if is_sitemap(head):
            return "sitemap"
        lowered = head.lower()
        if b"<rss" in lowered or b"<feed" in lowered or b"<rdf:rdf" in lowered:
            return "feed"
        return "html"

    def _child(self, spec: SourceSpec, url: str, kind: str, parent: Response) -> Request:
        return self._request(
            spec,
            parent.urljoin(url),
            callback=self.parse_source,
            errback=self.source_failed,
            meta={"kind": kind, "depth": parent.meta["depth"] + 1},
        )

    # -- articles ----------------------------------------------------------------------------

    def _follow(self, spec: SourceSpec, entries: list[Entry]) -> list[Request]:
        outcome = self.outcomes[spec.id]
        seen = self._seen[spec.id]
        fresh = []
        for entry in entries:
            outcome.entries += 1
            key = entry.url or entry.guid or entry.title
            if key and key not in seen:
                seen.add(key)
                fresh.append(entry)
        known = self.sink.known_urls(spec.id, [e.url for e in fresh if e.url])
        requests = []
        for entry in fresh:
            if entry.url in known:
                outcome.known += 1
            elif not entry.url or not spec.fetch_articles:
                reason = None if entry.url else "the feed entry has no link"
                self._store(spec, feed_only(spec, entry, note=reason))
            else:
                request = self._request(
                    spec,
                    entry.url,
                    callback=self.parse_article,
                    errback=self.article_failed,
                    meta={"entry": entry, "handle_httpstatus_list": []},
                )
                requests.append(request)
        return requests

    async def parse_article(self, response: Response) -> None:
        spec: SourceSpec = response.meta["spec"]
        entry: Entry = response.meta["entry"]
        try:
            if not isinstance(response, TextResponse):
                article = feed_only(spec, entry, note="the link is not an HTML page", failed=True)
            else:
                page = await self.extractor.extract(
                    response.text, response.url, want_date=entry.published is None
                )
                article = article_from_page(spec, entry, response.url, page)
            self._store(spec, article)
        except Exception as exc:
            log.exception("cannot process article %s", response.url)
            self._not_stored(spec, response.url, exc)
        finally:
            self._done(spec)

    def article_failed(self, failure: Failure) -> None:
        spec: SourceSpec = failure.request.meta["spec"]
        entry: Entry = failure.request.meta["entry"]
        try:
            note = f"article page unreachable: {describe_failure(failure)}"
            self.outcomes[spec.id].failed_articles += 1
            self._store(spec, feed_only(spec, entry, note=note))
        except Exception as exc:
            log.exception("cannot store the feed entry of %s", failure.request.url)
            self._not_stored(spec, failure.request.url, exc)
        finally:
            self._done(spec)

    def _not_stored(self, spec: SourceSpec, url: str, exc: Exception) -> None:
        """An entry that could not be stored must be fetched again: forget the validators,
        or the next poll's 304 would hide it for good."""
        outcome = self.outcomes[spec.id]
        outcome.failed_articles += 1
        outcome.warnings.append(f"{url}: {exc}")
        outcome.complete = False

    def _store(self, spec: SourceSpec, article: FetchedArticle) -> None:
        self.sink.accept_article(article)


def feed_only(
    spec: SourceSpec, entry: Entry, *, note: str | None, failed: bool = False
) -> FetchedArticle:
    return FetchedArticle(
        source_id=spec.id,
        entry=entry,
        url=entry.url or "",
        title=entry.title,
        text=entry.summary,
        extraction="failed" if failed else "feed",
        author=entry.author,
        published=entry.published,
        language=entry.language,
        note=note,
    )


def article_from_page(spec: SourceSpec, entry: Entry, final_url: str, page: Any) -> FetchedArticle:
    """The page's own text when it has some; otherwise the feed's summary, marked as such."""
    full = page.has_text
    return FetchedArticle(
        source_id=spec.id,
        entry=entry,
        url=final_url,
        title=(page.title or entry.title) if full else (entry.title or page.title),
        text=page.text if full else entry.summary,
        extraction="full" if full else "failed",
        canonical_url=page.canonical_url,
        author=(page.author or entry.author) if full else (entry.author or page.author),
        published=entry.published or page.published,
        language=page.language or entry.language,
        note=None
        if full
        else "no article text could be extracted from the page; feed summary kept",
        aliases=tuple(u for u in (entry.url, final_url) if u),
    )


def _header(response: Response, name: bytes) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


def _lower_headers(response: Response) -> dict[str, str]:
    return {
        key.decode("latin-1").lower(): b", ".join(values).decode("latin-1")
        for key, values in response.headers.items()
    }


def _text(response: Response) -> str:
    if not isinstance(response, TextResponse):
        raise ParseError("not an HTML page")
    return response.text
