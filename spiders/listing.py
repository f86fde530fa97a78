"""Finding article links on pages that have no feed.

A configured source names its links with a CSS selector (or XPath starting with
``/`` or ``(``). Ad-hoc pages have no selector, so a conservative heuristic picks
same-site links that look like articles: long enough anchor text, a path with
some depth, not navigation.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from parsel import Selector

from monitor.errors import ParseError
from spiders.feeds import plain_text
from spiders.items import Entry

_FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json")
_NAV_PATH = re.compile(r"/(tag|tags|category|categories|author|page|search|login|about)(/|$)")


def select_links(html: str, *, base_url: str, selector: str, max_entries: int) -> list[Entry]:
    page = Selector(text=html)
    try:
        nodes = page.xpath(selector) if selector.startswith(("/", "(")) else page.css(selector)
    except ValueError as exc:
        raise ParseError(f"link_selector {selector!r} is not valid: {exc}") from exc
    entries: list[Entry] = []
    seen: set[str] = set()
    for node in nodes:
        href = node.attrib.get("href") if hasattr(node, "attrib") else None
        if href is None:
            href = node.get()
            title = ""
        else:
            title = plain_text(node.get())
        url = urljoin(base_url, (href or "").strip())
        if urlsplit(url).scheme in ("http", "https") and url not in seen:
            seen.add(url)
            entries.append(Entry(url=url, title=title))
    return entries[:max_entries]


def guess_article_links(html: str, *, base_url: str, max_entries: int) -> list[Entry]:
    page = Selector(text=html)
    host = urlsplit(base_url).netloc
    entries: list[Entry] = []
    seen: set[str] = set()
    for anchor in page.css("a[href]"):
        url = urljoin(base_url, anchor.attrib["href"].strip()).split("#")[0]
        parts = urlsplit(url)
        title = plain_text(anchor.get())
        if (
            parts.netloc != host
            or url in seen
            or len(title) < 25
            or parts.path.rstrip("/").count("/") < 1
            or _NAV_PATH.search(parts.path)
        ):
            continue
        seen.add(url)
        entries.append(Entry(url=url, title=title))
    return entries[:max_entries]


def discover_feed(html: str, *, base_url: str) -> str | None:
    """The first feed a page advertises with ``<link rel="alternate">``."""
    page = Selector(text=html)
    for link in page.css('link[rel~="alternate"][href]'):
        if (link.attrib.get("type") or "").lower() in _FEED_TYPES:
            return urljoin(base_url, link.attrib["href"])
    return None
