"""Scrapy settings for a polite, bounded, long-running crawler.

Run from a script, Scrapy ignores robots.txt, allows 8 requests per domain, has
no delay, a 1 GiB download limit and a 3-minute timeout, and opens a telnet
console and a remote-control server. Every one of those is set here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.config import FetchSettings


def scrapy_settings(fetch: FetchSettings, *, version: str) -> dict[str, Any]:
    return {
        "BOT_NAME": "newsmon",
        "USER_AGENT": fetch.resolved_user_agent(version),
        "ROBOTSTXT_OBEY": fetch.obey_robots,
        "ROBOTSTXT_USER_AGENT": "newsmon",
        "DOWNLOAD_DELAY": fetch.download_delay,
        "DOWNLOAD_DELAY_JITTER": 0.5,
        "AUTOTHROTTLE_ENABLED": fetch.autothrottle,
        "AUTOTHROTTLE_START_DELAY": max(fetch.download_delay, 0.5),
        "AUTOTHROTTLE_TARGET_CONCURRENCY": float(fetch.concurrent_per_domain),
        "CONCURRENT_REQUESTS": fetch.concurrent_requests,
        "CONCURRENT_REQUESTS_PER_DOMAIN": fetch.concurrent_per_domain,
        "DOWNLOAD_TIMEOUT": fetch.timeout,
        "DOWNLOAD_MAXSIZE": fetch.max_bytes,
        "DOWNLOAD_WARNSIZE": 0,
        "DOWNLOAD_FAIL_ON_DATALOSS": True,
        "REDIRECT_MAX_TIMES": fetch.max_redirects,
        "METAREFRESH_ENABLED": False,
        "RETRY_ENABLED": fetch.retries > 0,
        "RETRY_TIMES": fetch.retries,
        "RETRY_HTTP_CODES": [500, 502, 503, 504, 522, 524, 408, 429],
        # A host that does not resolve will not resolve in two seconds either.
        "RETRY_EXCEPTIONS": [
            "scrapy.exceptions.DownloadConnectionRefusedError",
            "scrapy.exceptions.DownloadFailedError",
            "scrapy.exceptions.DownloadTimeoutError",
            "scrapy.exceptions.ResponseDataLossError",
            "twisted.internet.error.ConnectionDone",
            "twisted.internet.error.ConnectError",
            "twisted.internet.error.ConnectionLost",
            "twisted.web._newclient.ResponseNeverReceived",
        ],
        "NEWSMON_RETRY_BACKOFF": fetch.retry_backoff,
        # Every middleware runs for every request; the ones a news poller has no use
        # for are switched off (feeds link anywhere, so there is no offsite filter).
        "DOWNLOADER_MIDDLEWARES": {
            "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
            "spiders.middlewares.BackoffRetryMiddleware": 550,
            "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
            "spiders.middlewares.CachedRobotsTxtMiddleware": 100,
            "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,
            "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware": None,
            "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
            "scrapy.downloadermiddlewares.cookies.CookiesMiddleware": None,
            "scrapy.downloadermiddlewares.httpcache.HttpCacheMiddleware": None,
        },
        "SPIDER_MIDDLEWARES": {
            "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
            "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware": None,
        },
        "EXTENSIONS": {
            "scrapy.extensions.logstats.LogStats": None,
            "scrapy.extensions.memusage.MemoryUsage": None,
            "scrapy.extensions.memdebug.MemoryDebugger": None,
            "scrapy.extensions.feedexport.FeedExporter": None,
            "scrapy.extensions.spiderstate.SpiderState": None,
            "scrapy.extensions.closespider.CloseSpider": None,
        },
        # Only the web: a redirect or link to file://, ftp:// or s3:// must never be followed.
        "DOWNLOAD_HANDLERS": {"file": None, "data": None, "ftp": None, "s3": None},
        "COOKIES_ENABLED": False,
        "HTTPCACHE_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "REMOTE_CONTROL_ENABLED": False,
        "LOG_ENABLED": False,
        "LOG_LEVEL": "WARNING",
        "STATS_DUMP": False,
        "MEMUSAGE_ENABLED": False,
        "DNS_TIMEOUT": min(fetch.timeout, 20.0),
        "REACTOR_THREADPOOL_MAXSIZE": 8,
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
        "SCHEDULER_PRIORITY_QUEUE": "scrapy.pqueues.DownloaderAwarePriorityQueue",
        "DEPTH_LIMIT": 0,
        # Callbacks hand their output to the archive themselves; 100 parallel item
        # workers per response (the default) only churn the event loop.
        "CONCURRENT_ITEMS": 4,
    }
