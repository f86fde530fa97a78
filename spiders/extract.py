"""Article text and metadata from a page, through trafilatura.

Extraction is CPU work (a few ms for a small page, ~20 ms for a heavy one) and
lxml can crash on hostile markup, so :class:`Extractor` runs it in worker
processes: the crawl's event loop keeps serving downloads, extraction uses every
core, and a crashed worker costs one article, not the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import html as html_lib
import logging
import multiprocessing
import os
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urljoin

import trafilatura

from spiders.feeds import parse_iso_date
from spiders.page_metadata import page_metadata

_HEAD_LIMIT = 200_000
_HTML_LANG = re.compile(r"<html\b[^>]*?\blang\s*=\s*[\"']?([A-Za-z]{2,3})", re.IGNORECASE)
_LINK_TAG = re.compile(r"<link\b[^>]*>", re.IGNORECASE)
_ATTR = re.compile(r"""([a-zA-Z:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")
MIN_TEXT_CHARS = 80
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
    try:
        tree = trafilatura.load_html(html)
        meta = page_metadata(tree, url, want_date=want_date) if tree is not None else None
        document = None
        if tree is not None:
            document = trafilatura.bare_extraction(
                tree,
                url=url,
                with_metadata=False,
                include_comments=False,
                include_tables=True,
            )
    except Exception:  # trafilatura/lxml raise many types on broken markup
        meta, document = None, None
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


def start_worker(parent: int) -> None:
    """Pool initializer: yield the CPU to the daemon, and leave when it is gone.

    The daemon's own process runs the event loop: downloads, timeouts, database
    writes, alert delivery. When extraction saturates the machine it must still
    be served first, or downloads stall and the extraction workers end up waiting
    for pages (bench/poll.py --n 200 on 2 cores, median of 5 runs: 204 articles/s
    with the workers at the daemon's priority, 225 at nice 10). An orphaned worker
    (the daemon killed with SIGKILL) would otherwise live on, holding the daemon's
    stdout, waiting for work that never comes.
    """
    with contextlib.suppress(OSError):
        os.nice(10)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


class Extractor:
    """Runs :func:`extract_page` in a pool of worker processes (0 processes: a thread).

    The pool is started on first use and kept for the life of the process, so a
    daemon pays the workers' start-up once, not once per poll.
    """

    def __init__(self, processes: int | None = None) -> None:
        self.processes = default_processes() if processes is None else processes
        self._pool: Executor | None = None

    def _executor(self) -> Executor:
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(
                self.processes, mp_context=context, initializer=start_worker,
                initargs=(os.getpid(),),
            )  # fmt: skip
        return self._pool

    async def extract(self, html: str, url: str, *, want_date: bool = True) -> ExtractedPage:
        try:
            return await self.run(extract_page, html, url, want_date=want_date)
        except BrokenProcessPool:
            log.warning("an extraction worker died on %s; restarting the pool", url)
            self.close()
            return ExtractedPage("", "", None, None, None, None)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Any picklable CPU-bound call (feed parsing too) off the event loop."""
        call = functools.partial(fn, *args, **kwargs)
        if self.processes <= 0:
            return await asyncio.to_thread(call)
        return await asyncio.get_running_loop().run_in_executor(self._executor(), call)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
