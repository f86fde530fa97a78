"""Downloader middleware: retries that back off instead of hammering a struggling server.

Scrapy's own RetryMiddleware re-queues a failed request at once. A server that
answered 503 or 429 is better served by waiting: exponentially longer per attempt,
or as long as its ``Retry-After`` says when that is short. A long ``Retry-After``
ends the poll; the source's own backoff (not the crawl) then waits it out.
"""

from __future__ import annotations

import asyncio
import email.utils
import time

from scrapy import Request
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.http import Response
from scrapy.utils.httpobj import urlparse_cached

MAX_INLINE_WAIT_S = 30.0


def retry_after_seconds(response: Response) -> float | None:
    """``Retry-After`` as seconds: both the delta and the HTTP-date forms."""
    raw = response.headers.get(b"Retry-After")
    return parse_retry_after(raw.decode("latin-1") if raw else None)


def parse_retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` header value as seconds from now (None when absent or unreadable).

    Shared with the alert channels, whose HTTP clients are not Scrapy's.
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def is_robots_request(request: Request) -> bool:
    """robots.txt is fetched once per host per crawl; a failure there means "allowed"."""
    return request.url.endswith("/robots.txt") and bool(request.meta.get("dont_obey_robotstxt"))


class BackoffRetryMiddleware(RetryMiddleware):
    def __init__(self, settings):
        super().__init__(settings)
        self.backoff_base = settings.getfloat("NEWSMON_RETRY_BACKOFF", 2.0)

    async def process_response(
        self, request: Request, response: Response, spider: object = None
    ) -> Request | Response:
        if (
            request.meta.get("dont_retry")
            or is_robots_request(request)
            or response.status not in self.retry_http_codes
        ):
            return response
        wait = retry_after_seconds(response)
        if wait is not None and wait > MAX_INLINE_WAIT_S:
            return response
        retry = self._retry(request, f"HTTP {response.status}")
        if retry is None:
            return response
        await asyncio.sleep(wait if wait is not None else self._delay(retry))
        return retry

    async def process_exception(
        self, request: Request, exception: Exception, spider: object = None
    ) -> Request | Response | None:
        if (
            request.meta.get("dont_retry")
            or is_robots_request(request)
            or not isinstance(exception, self.exceptions_to_retry)
        ):
            return None
        retry = self._retry(request, exception)
        if retry is not None:
            await asyncio.sleep(self._delay(retry))
        return retry

    def _delay(self, retry: Request) -> float:
        attempt = retry.meta.get("retry_times", 1)
        return min(self.backoff_base * 2 ** (attempt - 1), MAX_INLINE_WAIT_S)


_ROBOTS: dict[str, tuple[float, object]] = {}


def clear_robots_cache() -> None:
    """Forget every host's robots.txt (a test server's port is reused by the next test's)."""
    _ROBOTS.clear()


class CachedRobotsTxtMiddleware(RobotsTxtMiddleware):
    """Scrapy's robots.txt handling, remembered across crawls for ``NEWSMON_ROBOTS_TTL``.

    The daemon starts a crawler per poll; without this, every poll of every feed
    would first fetch the host's robots.txt again. Failed fetches (no parser:
    everything allowed) are remembered for a tenth of the time.
    """

    def __init__(self, crawler):
        super().__init__(crawler)
        self.ttl = crawler.settings.getfloat("NEWSMON_ROBOTS_TTL", 3600.0)

    async def robot_parser(self, request: Request):
        netloc = urlparse_cached(request).netloc
        now = time.monotonic()
        cached = _ROBOTS.get(netloc)
        if cached is not None:
            fetched_at, parser = cached
            if now - fetched_at < (self.ttl if parser is not None else self.ttl / 10):
                return parser
        parser = await super().robot_parser(request)
        _ROBOTS[netloc] = (now, parser)
        return parser
