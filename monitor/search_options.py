"""The archive filters shared by ``search``, ``export`` and ``stats`` (and the web UI's form)."""

from __future__ import annotations

from typing import Annotated

import typer

from monitor.cli import parse_when
from monitor.errors import NewsmonError
from storage.search import SearchRequest

QueryArg = Annotated[
    str | None, typer.Argument(help='e.g. nickel AND (Indonesia OR "HPAL") NOT tesla*')
]
TopicOpt = Annotated[
    list[str] | None, typer.Option("--topic", "-t", help="Only this topic; repeatable.")
]
SourceOpt = Annotated[
    list[str] | None, typer.Option("--source", "-s", help="Only this source name; repeatable.")
]
SinceOpt = Annotated[str | None, typer.Option(help="7d, 24h, 2w or 2026-03-01")]
UntilOpt = Annotated[str | None, typer.Option(help="a date or ISO time (exclusive)")]
LangOpt = Annotated[str | None, typer.Option("--lang", help="ISO 639-1 code, e.g. ja")]
ScoreOpt = Annotated[float | None, typer.Option(help="Minimum topic score")]


def build_request(
    *,
    query: str | None,
    topic: list[str] | None = None,
    source: list[str] | None = None,
    since: str | None = None,
    until: str | None = None,
    language: str | None = None,
    min_score: float | None = None,
    sort: str = "relevance",
    limit: int = 20,
    offset: int = 0,
    cursor: str | None = None,
    flag: str = "--",
) -> SearchRequest:
    """Empty values mean "no filter" (a web form sends them); ``flag`` prefixes names in errors."""
    if sort not in ("relevance", "date"):
        raise NewsmonError(f"{flag}sort must be relevance or date")
    return SearchRequest(
        query=query or None, topics=tuple(t for t in topic or () if t),
        sources=tuple(s for s in source or () if s), language=language or None,
        since=parse_when(since, option=f"{flag}since"),
        until=parse_when(until, option=f"{flag}until"),
        min_score=min_score, sort=sort, limit=limit, offset=offset,  # type: ignore[arg-type]
        cursor=cursor or None,
    )  # fmt: skip
