"""One readable line for every way a download can fail.

These lines land in ``sources.last_error`` and in ``newsmon sources``; a user
must understand them without knowing Scrapy's and Twisted's exception zoo.
Exceptions are matched by class name so the table holds across Scrapy versions
(2.14 raised Twisted's own classes where 2.19 raises Scrapy's).
"""

from __future__ import annotations

from scrapy.exceptions import IgnoreRequest
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from spiders.middlewares import retry_after_seconds

_DNS = "DNS lookup failed (no network, or a wrong host name)"
_BY_NAME = {
    "CannotResolveHostError": _DNS,
    "DNSLookupError": _DNS,
    "DownloadConnectionRefusedError": "connection refused",
    "ConnectionRefusedError": "connection refused",
    "DownloadTimeoutError": "timed out",
    "TimeoutError": "timed out",
    "TCPTimedOutError": "timed out",
    "ResponseDataLossError": "connection lost before the response was complete",
    "ResponseNeverReceived": "connection lost before a response arrived",
    "ResponseFailed": "connection lost before the response was complete",
    "ConnectionLost": "connection lost before the response was complete",
    "ConnectionDone": "connection closed before the response was complete",
    "UnsupportedURLSchemeError": "unsupported URL scheme (only http and https are fetched)",
    "NotSupported": "unsupported URL scheme (only http and https are fetched)",
}


def describe_failure(failure: Failure) -> str:
    exc = failure.value
    if isinstance(exc, HttpError):
        return describe_status(exc.response)
    if isinstance(exc, IgnoreRequest):
        reason = str(exc)
        if "robots" in reason.lower():
            return "forbidden by robots.txt"
        if "redirect" in reason.lower():
            return "too many redirects (a redirect loop?)"
        if "during decompression" in reason:
            return (
                "compressed body expands past the download size cap (fetch.max_bytes): "
                "a compression bomb?"
            )
        return reason or "request ignored"
    name = type(exc).__name__
    if name == "DownloadCancelledError":
        return "response larger than the download size cap (fetch.max_bytes)"
    if name in _BY_NAME:
        return _BY_NAME[name]
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{name}: {text}" if text else name


def describe_status(response: object) -> str:
    status = response.status  # type: ignore[attr-defined]
    headers = response.headers  # type: ignore[attr-defined]
    if 300 <= status < 400:
        location = headers.get(b"Location", b"").decode("latin-1")
        return f"HTTP {status}: redirect to {location or 'nowhere'} not followed (only http/https)"
    wait = retry_after_seconds(response)  # type: ignore[arg-type]
    return f"HTTP {status} (Retry-After {wait:.0f}s)" if wait is not None else f"HTTP {status}"
