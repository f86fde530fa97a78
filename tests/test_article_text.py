"""trafilatura's own extractor first, its full cascade only where that may differ.

The guarded path must give the full cascade's text wherever the cascade would
choose differently, and must skip the cascade on an ordinary article page (or
it saves nothing). ``bench/extraction.py`` measures both on real pages.
"""

from __future__ import annotations

import pytest
import trafilatura

from bench.sites import article_page as bench_page
from spiders.extract import extract_page, needs_full_cascade
from tests.pages import BASE, demo_articles, html_pages

SENTENCE = (
    "Battery makers in Sulawesi expanded nickel processing this quarter, "
    "the provincial investment office said on Tuesday. "
)


def _extract(html: str, url: str, *, fast: bool) -> trafilatura.settings.Document | None:
    return trafilatura.bare_extraction(
        trafilatura.load_html(html),
        url=url,
        fast=fast,
        with_metadata=False,
        include_comments=False,
        include_tables=True,
    )


def _full(html: str, url: str) -> str:
    document = _extract(html, url, fast=False)
    return (document.text or "").strip() if document is not None else ""


def _cascade_needed(html: str) -> bool:
    document = _extract(html, BASE + "/x.html", fast=True)
    return document is None or needs_full_cascade(
        document.body, document.text or "", trafilatura.load_html(html)
    )


# The story sits in spans after a one-paragraph teaser: the own extractor keeps the
# teaser, readability finds the story.
STORY_IN_SPANS = (
    "<html><body><main><h1>Nickel output</h1><p>"
    + SENTENCE
    + "</p></main><section>"
    + "".join(f"<span>{SENTENCE * 2}</span><br/>" for _ in range(20))
    + "</section></body></html>"
)
TABLE_OF_FIGURES = (
    "<html><body><article><p>"
    + SENTENCE * 3
    + "</p>"
    + "".join(f"<table><tr><td>Plant {i}</td><td>{SENTENCE}</td></tr></table>" for i in range(4))
    + "</article></body></html>"
)
SHORT_NOTE = "<html><body><article><p>Port reopened after the storm.</p></article></body></html>"


PAGES = html_pages({"story in spans": STORY_IN_SPANS})


@pytest.mark.parametrize(("name", "url", "html"), PAGES, ids=[p[0] for p in PAGES])
def test_same_text_as_the_full_cascade(name: str, url: str, html: str) -> None:
    assert extract_page(html, url).text == _full(html, url)


def test_the_cascade_runs_where_the_own_extractor_falls_short() -> None:
    url = BASE + "/spans.html"
    own = (_extract(STORY_IN_SPANS, url, fast=True).text or "").strip()
    assert _cascade_needed(STORY_IN_SPANS)
    text = extract_page(STORY_IN_SPANS, url).text
    assert text == _full(STORY_IN_SPANS, url)
    assert len(text) > 5 * len(own)


@pytest.mark.parametrize(
    "html",
    [STORY_IN_SPANS, TABLE_OF_FIGURES, SHORT_NOTE, "<html><body></body></html>"],
    ids=["story in spans", "tables", "short", "empty"],
)
def test_weak_own_results_are_checked_by_the_cascade(html: str) -> None:
    assert _cascade_needed(html)


def test_an_ordinary_article_page_skips_the_cascade() -> None:
    assert not _cascade_needed(bench_page(7, 4).decode())
    articles = demo_articles()
    assert articles
    skipped = [html for html in articles if not _cascade_needed(html)]
    assert len(skipped) >= 3 * len(articles) // 4  # 31 of 34 today
