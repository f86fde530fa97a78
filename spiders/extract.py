"""Article text and metadata from a page, through trafilatura.

Extraction is CPU work (a few ms for a small page, ~20 ms for a heavy one) and
lxml can crash on hostile markup, so :class:`Extractor` runs it in worker
processes (:mod:`spiders.workers`): the crawl's event loop keeps serving
downloads, extraction uses every core, and a crashed worker costs one article,
not the daemon.
"""

from __future__ import annotations

import asyncio
import functools
import html as html_lib
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urljoin

import trafilatura
from lxml import etree
from lxml.html import HtmlElement

from spiders.feeds import parse_iso_date
from spiders.page_metadata import page_metadata
from spiders.workers import ProcessPool, WorkerDied

_HEAD_LIMIT = 200_000
_HTML_LANG = re.compile(r"<html\b[^>]*?\blang\s*=\s*[\"']?([A-Za-z]{2,3})", re.IGNORECASE)
_LINK_TAG = re.compile(r"<link\b[^>]*>", re.IGNORECASE)
_ATTR = re.compile(r"""([a-zA-Z:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")
MIN_TEXT_CHARS = 80
# trafilatura's MIN_EXTRACTED_SIZE: below it the cascade tries jusText.
_CASCADE_MIN_CHARS = 250
# Own text under this share of the page's: readability may find twice as much.
# Swept on the corpus: 0.08 loses F1, 0.12-0.15 run the cascade 35-70% more often.
_CASCADE_MIN_SHARE = 0.1
# Boilerplate the own extractor normally drops; left in its result, the cascade checks it.
_LEFT_IN_BOILERPLATE = etree.XPath(
    "boolean(.//aside|.//audio|.//button|.//figure|.//footer|.//iframe|.//input"
    "|.//label|.//nav|.//noscript|.//select|.//svg)"
)
_PARAGRAPH_TEXT = etree.XPath("boolean(.//p//text()[normalize-space()])")
_BODY_TEXT_LENGTH = etree.XPath("string-length(normalize-space(/html/body))")
_CODE_TAGS = ("script", "style", "noscript", "template")
T = TypeVar("T")


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


def extract_page(html: str, url: str, *, want_date: bool = True) -> ExtractedPage:
    """Never raises on bad markup: an unusable page comes back with empty text.

    ``want_date=False`` when the feed already dates the entry: the page's date is
    then never used, and looking for it is the dearest part of the metadata.
    """
    head = html[:_HEAD_LIMIT]
    meta = document = None
    try:
        tree = trafilatura.load_html(html)
        if tree is not None:  # bare_extraction works on its own copy of the tree
            document = article_text(tree, url)
        if document is not None:
            meta = page_metadata(tree, url, want_date=want_date)
    except Exception:  # trafilatura/lxml raise many types on broken markup
        meta = document = None
    if document is None or meta is None:
        return ExtractedPage("", "", None, None, page_language(head), canonical_link(head, url))
    return ExtractedPage(
        title=(meta.title or "").strip(),
        text=(document.text or "").strip(),
        author=(meta.author or None),
        published=parse_iso_date(meta.date),
        language=page_language(head) or meta.language,
        canonical_url=canonical_link(head, url),
    )


def article_text(tree: HtmlElement, url: str) -> Any:
    """trafilatura's own extractor, and its full cascade only where that may differ.

    The full cascade (``fast=False``) also runs readability and jusText on every
    page and keeps theirs when trafilatura's own result looks weak; that costs
    25% of the time on real pages and 45% on small ones. On trafilatura's
    990-page evaluation corpus the two agree on 917 pages, and every rule the
    cascade uses to prefer another result needs the own result to be short,
    paragraph-less, table-dominated or a small part of the page
    (:func:`needs_full_cascade`). Checking that first keeps F1 at 0.925 (full:
    0.926, own alone: 0.920) with the cascade run on 6% of pages
    (``bench/extraction.py`` measures it).
    """
    options = {"with_metadata": False, "include_comments": False, "include_tables": True}
    document = trafilatura.bare_extraction(tree, url=url, fast=True, **options)
    if document is None or needs_full_cascade(document.body, document.text or "", tree):
        document = trafilatura.bare_extraction(tree, url=url, fast=False, **options)
    return document


def needs_full_cascade(body: Any, text: str, tree: HtmlElement) -> bool:
    if len(text) < _CASCADE_MIN_CHARS or body is None:
        return True
    if not _PARAGRAPH_TEXT(body) or _LEFT_IN_BOILERPLATE(body):
        return True
    if len(body.findall(".//table")) > len(body.findall(".//p")):
        return True
    return len(text) < _CASCADE_MIN_SHARE * page_text_length(tree)


def page_text_length(tree: HtmlElement) -> int:
    """Visible characters in the page's body, spaces collapsed; ~0.5 ms on a news page."""
    body = tree.find("body")
    if body is None:
        return 0
    code = sum(len(" ".join((node.text or "").split())) for node in body.iter(*_CODE_TAGS))
    return int(_BODY_TEXT_LENGTH(tree)) - code


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


log = logging.getLogger(__name__)


def default_processes() -> int:
    return max(1, min(os.cpu_count() or 1, 4))


class Extractor:
    """Runs :func:`extract_page` in worker processes (0 processes: a thread).

    The workers are started on first use and kept for the life of the process,
    so a daemon pays their start-up once, not once per poll.
    """

    def __init__(self, processes: int | None = None) -> None:
        self.processes = default_processes() if processes is None else processes
        self._pool = ProcessPool(self.processes) if self.processes > 0 else None

    async def extract(self, html: str, url: str, *, want_date: bool = True) -> ExtractedPage:
        try:
            return await self.run(extract_page, html, url, want_date=want_date)
        except WorkerDied as exc:
            log.warning("extraction of %s failed: %s", url, exc)
            return ExtractedPage("", "", None, None, None, None)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Any picklable CPU-bound call (feed parsing too) off the event loop."""
        if self._pool is None:
            return await asyncio.to_thread(functools.partial(fn, *args, **kwargs))
        return await self._pool.run(fn, *args, **kwargs)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
