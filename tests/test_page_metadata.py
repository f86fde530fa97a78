"""The lean metadata pass must agree with trafilatura's own on what newsmon keeps.

``spiders.page_metadata`` re-runs trafilatura's title/author/date steps and skips
the rest; if a trafilatura release changes those steps, these comparisons fail.
"""

from __future__ import annotations

import json

import pytest
import trafilatura

from spiders.extract import extract_page
from spiders.page_metadata import DATE_OPTIONS, page_metadata
from tests.pages import BASE, html_pages


def _page(head: str, body: str) -> str:
    paragraphs = "".join(
        f"<p>Paragraph {i} of a story about battery plants, nickel prices and the ministers "
        "who met in Jakarta to discuss them at some length.</p>"
        for i in range(6)
    )
    return (
        f"<!doctype html><html lang='en'><head>{head}</head>"
        f"<body>{body}<article>{paragraphs}</article></body></html>"
    )


LD = json.dumps(
    {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": "Cathode plant approved in Batang",
        "author": {"@type": "Person", "name": "Dewi Lestari"},
        "datePublished": "2026-11-20T08:00:00+07:00",
    }
)
CRAFTED = {
    "json-ld": _page(
        f"<script type='application/ld+json'>{LD}</script><title>x | Site</title>", ""
    ),
    "one-word author": _page(
        "<title>Port deal signed - Daily</title><meta name='author' content='newsdesk'>",
        "<h1>Port deal signed</h1><p class='byline'>By Hiroshi Tanaka</p>",
    ),
    "og only": _page(
        "<meta property='og:title' content='EU and Japan widen data pact'>"
        "<meta property='article:published_time' content='2026-11-18T10:00:00Z'>",
        "",
    ),
    "h1 only": _page("", "<h1>Smelter output rises</h1><time datetime='2026-11-02'>2 Nov</time>"),
    "nothing": _page("", ""),
}


PAGES = html_pages(CRAFTED)


@pytest.mark.parametrize(("name", "url", "html"), PAGES, ids=[p[0] for p in PAGES])
def test_same_title_author_and_date_as_trafilatura(name: str, url: str, html: str) -> None:
    expected = trafilatura.extract_metadata(
        trafilatura.load_html(html), default_url=url, date_config=dict(DATE_OPTIONS)
    )
    ours = page_metadata(trafilatura.load_html(html), url)
    assert (ours.title, ours.author, ours.date) == (expected.title, expected.author, expected.date)


def test_fixture_pages_cover_the_interesting_cases() -> None:
    """The comparison above is only worth something if the pages carry metadata."""
    found = [page_metadata(trafilatura.load_html(html), url) for _n, url, html in PAGES]
    assert sum(bool(m.author) for m in found) >= 10
    assert sum(bool(m.date) for m in found) >= 10
    assert sum(bool(m.title) for m in found) >= len(found) - 2
    assert page_metadata(trafilatura.load_html(CRAFTED["json-ld"]), BASE).author == "Dewi Lestari"


@pytest.mark.parametrize(("name", "url", "html"), PAGES[:8], ids=[p[0] for p in PAGES[:8]])
def test_page_text_is_trafilaturas(name: str, url: str, html: str) -> None:
    document = trafilatura.bare_extraction(
        html, url=url, with_metadata=True, include_comments=False, include_tables=True,
        date_extraction_params=dict(DATE_OPTIONS),
    )  # fmt: skip
    page = extract_page(html, url)
    assert page.text == ((document.text or "").strip() if document else "")
    if document and page.text:
        assert page.title == (document.title or "").strip()
        assert page.published is not None or document.date is None


def test_date_is_skipped_only_when_not_wanted() -> None:
    html = CRAFTED["og only"]
    assert extract_page(html, BASE + "/x.html").published is not None
    undated = extract_page(html, BASE + "/x.html", want_date=False)
    assert undated.published is None
    assert undated.title == "EU and Japan widen data pact"
