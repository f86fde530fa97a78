"""A page's title, author and date: trafilatura's metadata pass, minus what newsmon drops.

``trafilatura.extract_metadata`` also looks for the site name, categories, tags
and licence (the licence search reads every link on the page) and always runs
htmldate. newsmon keeps none of the former and needs the page's date only when
the feed gives none. Together they cost more than the text extraction itself
(measured on the benchmark pages: 2.8 ms of 5.3 ms), so this runs the same steps
as ``extract_metadata`` for title, author and date, in the same order, and skips
the rest. ``tests/test_page_metadata.py`` checks the result against
``extract_metadata`` on every fixture page, so a trafilatura release that
changes these steps is caught; if it renames them, the full pass is used.
"""

from __future__ import annotations

import contextlib
from typing import Any

import trafilatura
from htmldate import find_date

try:
    from trafilatura.metadata import (
        examine_meta,
        extract_author,
        extract_meta_json,
        extract_title,
    )
except ImportError:  # pragma: no cover - a trafilatura that reorganised its metadata module
    examine_meta = None

# Feeds and sitemaps date most articles; the page's date is a fallback, and
# htmldate's extensive search more than doubles the cost of a page.
DATE_OPTIONS = {"extensive_search": False, "original_date": True}


def page_metadata(tree: Any, url: str, *, want_date: bool = True) -> Any:
    """A trafilatura ``Document`` with ``title``, ``author`` and (if wanted) ``date`` set."""
    if examine_meta is None:
        return trafilatura.extract_metadata(tree, default_url=url, date_config=dict(DATE_OPTIONS))
    metadata = examine_meta(tree)
    if metadata.author and " " not in metadata.author:
        metadata.author = None  # a one-word "author" is a site or handle, as trafilatura rules
    with contextlib.suppress(Exception):  # trafilatura guards its JSON-LD parser the same way
        metadata = extract_meta_json(tree, metadata)
    if not metadata.title:
        metadata.title = extract_title(tree)
    if not metadata.author:
        metadata.author = extract_author(tree)
    if want_date:
        metadata.date = find_date(tree, url=metadata.url or url, **DATE_OPTIONS)
    return metadata
