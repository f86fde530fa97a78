"""Article text and metadata from a page, through trafilatura.

Extraction is CPU work of ~20 ms a page; callers run it in a worker thread so
the crawl's event loop keeps serving other downloads meanwhile.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urljoin

import trafilatura

from spiders.feeds import parse_iso_date

_HEAD_LIMIT = 200_000
_HTML_LANG = re.compile(r"<html\b[^>]*?\blang\s*=\s*[\"']?([A-Za-z]{2,3})", re.IGNORECASE)
_LINK_TAG = re.compile(r"<link\b[^>]*>", re.IGNORECASE)
_ATTR = re.compile(r"""([a-zA-Z:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")
MIN_TEXT_CHARS = 80


@dataclass(frozen=True)
class ExtractedPage:
    title: str
    text: str
    author: str | None
    published: datetime | None
    language: str | None
    canonical_url: str | None

    @property
    def has_text(self) -> bool:
        return len(self.text) >= MIN_TEXT_CHARS


def extract_page(html: str, url: str) -> ExtractedPage:
    """Never raises on bad markup: an unusable page comes back with empty text."""
    head = html[:_HEAD_LIMIT]
    try:
        document = trafilatura.bare_extraction(
            html, url=url, with_metadata=True, include_comments=False, include_tables=True
        )
    except Exception:  # trafilatura/lxml raise many types on broken markup
        document = None
    if document is None:
        return ExtractedPage("", "", None, None, page_language(head), canonical_link(head, url))
    return ExtractedPage(
        title=(document.title or "").strip(),
        text=(document.text or "").strip(),
        author=(document.author or None),
        published=parse_iso_date(document.date),
        language=page_language(head) or document.language,
        canonical_url=canonical_link(head, url),
    )


def page_language(head: str) -> str | None:
    match = _HTML_LANG.search(head)
    return match.group(1).lower() if match else None


def canonical_link(head: str, base_url: str) -> str | None:
    for tag in _LINK_TAG.findall(head):
        attrs = {
            name.lower(): html_lib.unescape(next(v for v in values if v is not None) or "")
            for name, *values in _ATTR.findall(tag)
        }
        if "canonical" in attrs.get("rel", "").lower().split() and attrs.get("href"):
            candidate = urljoin(base_url, attrs["href"].strip())
            if candidate.startswith(("http://", "https://")):
                return candidate
    return None
