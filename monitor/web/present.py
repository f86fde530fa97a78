"""Turning stored text into safe HTML: escaped first, then marked."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from markupsafe import Markup, escape

from storage.search import MARK_END, MARK_START


def snippet_html(snippet: str) -> Markup:
    """The search snippet with its matched words in <mark> (the markers cannot be forged)."""
    escaped = str(escape(snippet))
    return Markup(escaped.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>"))


def text_spans(
    tags: Iterable[tuple[str, float, dict[str, Any]]], field: str
) -> list[tuple[int, int, str]]:
    """Non-overlapping (start, end, topic) spans of the rule hits in ``field``, in order."""
    spans = sorted(
        (int(hit[2]), int(hit[3]), topic)
        for topic, _score, explanation in tags
        for hit in explanation.get("hits", [])
        if len(hit) >= 4 and hit[1] == field and int(hit[3]) > int(hit[2])
    )
    merged: list[tuple[int, int, str]] = []
    for start, end, topic in spans:
        if merged and start < merged[-1][1]:
            continue
        merged.append((start, end, topic))
    return merged


def marked_paragraphs(text: str, spans: Sequence[tuple[int, int, str]]) -> list[Markup]:
    """``text`` as escaped paragraphs, each rule hit wrapped in <mark data-topic=…>."""
    pieces: list[str] = []
    cursor = 0
    for start, end, topic in spans:
        if start < cursor or end > len(text):
            continue
        pieces.append(str(escape(text[cursor:start])))
        pieces.append(
            f'<mark data-topic="{escape(topic)}" title="{escape(topic)}">'
            f"{escape(text[start:end])}</mark>"
        )
        cursor = end
    pieces.append(str(escape(text[cursor:])))
    html = "".join(pieces)
    return [Markup(p.strip()) for p in html.split("\n") if p.strip()]


def marked_title(title: str, spans: Sequence[tuple[int, int, str]]) -> Markup:
    paragraphs = marked_paragraphs(title, spans)
    return paragraphs[0] if paragraphs else Markup("")


def matched_terms(explanation: dict[str, Any]) -> list[str]:
    seen: dict[str, str] = {}
    for hit in explanation.get("hits", []):
        if len(hit) >= 5:
            seen.setdefault(str(hit[4]).casefold(), str(hit[4]))
    return list(seen.values())
