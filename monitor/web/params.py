"""Query-string filters → :class:`SearchRequest`, the same for pages, API and feeds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Query

from monitor.errors import ConfigError
from monitor.search_options import build_request
from storage.search import SearchRequest


@dataclass
class Filters:
    q: str | None
    topic: list[str]
    source: list[str]
    since: str | None
    until: str | None
    lang: str | None
    min_score: float | None
    sort: str

    def request(self, *, limit: int = 20, cursor: str | None = None) -> SearchRequest:
        """Raises ConfigError for a bad date and QuerySyntaxError (on search) for a bad query."""
        return build_request(
            query=self.q, topic=self.topic, source=self.source, since=self.since,
            until=self.until, language=self.lang, min_score=self.min_score, sort=self.sort,
            limit=limit, cursor=cursor, flag="",
        )  # fmt: skip

    def items(self) -> list[tuple[str, str]]:
        """The filters as query-string pairs (to build links that keep them)."""
        pairs: list[tuple[str, str]] = []
        for key in ("q", "since", "until", "lang"):
            value = getattr(self, key)
            if value:
                pairs.append((key, value))
        pairs += [("topic", t) for t in self.topic if t]
        pairs += [("source", s) for s in self.source if s]
        if self.min_score is not None:
            pairs.append(("min_score", f"{self.min_score:g}"))
        if self.sort == "date":
            pairs.append(("sort", "date"))
        return pairs


def filters(
    q: Annotated[
        str | None, Query(description='Search syntax: words, "phrases", AND/OR/NOT, prefix*')
    ] = None,
    topic: Annotated[list[str] | None, Query(description="Only these topics")] = None,
    source: Annotated[list[str] | None, Query(description="Only these source names")] = None,
    since: Annotated[str | None, Query(description="7d, 24h, 2w or 2026-03-01")] = None,
    until: Annotated[str | None, Query(description="a date or ISO time (exclusive)")] = None,
    lang: Annotated[str | None, Query(description="ISO 639-1 language code")] = None,
    min_score: Annotated[str | None, Query(description="Minimum topic score")] = None,
    sort: Annotated[str, Query(pattern="^(relevance|date)$")] = "relevance",
) -> Filters:
    return Filters(q, topic or [], source or [], since, until, lang, _score(min_score), sort)


def _score(value: str | None) -> float | None:
    """An empty form field means no minimum; anything else must be a number ≥ 0."""
    if value is None or not value.strip():
        return None
    try:
        score = float(value)
    except ValueError:
        score = -1.0
    if score < 0 or score != score:
        raise ConfigError(f"min_score {value!r}: give a number such as 2 or 3.5")
    return score
