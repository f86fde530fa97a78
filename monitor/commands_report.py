"""``newsmon export`` and ``newsmon stats``: the archive as data, and as counts over time."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from monitor.cli import ConfigOpt, DbOpt, app, err, open_config
from monitor.output import Format, write_records
from monitor.search_options import (
    LangOpt,
    QueryArg,
    ScoreOpt,
    SinceOpt,
    SourceOpt,
    TopicOpt,
    UntilOpt,
    build_request,
)
from storage.db import Archive
from storage.search import iter_rows, stats

EXPORT_COLUMNS = ["id", "url", "title", "source", "sources", "published", "fetched", "language",
                  "topics", "scores", "extraction", "story_id", "text"]  # fmt: skip


class ExportFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


@app.command("export")
def export_command(
    query: QueryArg = None,
    topic: TopicOpt = None,
    source: SourceOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    language: LangOpt = None,
    min_score: ScoreOpt = None,
    fmt: Annotated[ExportFormat, typer.Option("--format", "-f")] = ExportFormat.jsonl,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Stream every matching article, full text included, newest first, in bounded memory.

    Examples: newsmon export --topic eu_japan --since 2026-03-01 -o eu.jsonl;
    newsmon export 'nickel AND Japan' --format csv > nickel.csv
    """
    request = build_request(
        query=query, topic=topic, source=source, since=since, until=until, language=language,
        min_score=min_score, sort="date",
    )  # fmt: skip
    archive = Archive(open_config(config, db).resolve_storage_url())
    stream = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
    try:
        with archive.reader() as session:
            records = (
                row.to_json() | {"text": row.text}
                for row in iter_rows(session, request, with_text=True)
            )
            count = write_records(records, Format(fmt.value), columns=EXPORT_COLUMNS, stream=stream)
    finally:
        archive.close()
        if output:
            stream.close()
    err.print(f"{count} articles exported" + (f" to {output}" if output else ""))


class Period(StrEnum):
    day = "day"
    week = "week"
    month = "month"


class Per(StrEnum):
    all = "all"
    topic = "topic"
    source = "source"


@app.command("stats")
def stats_command(
    query: QueryArg = None,
    by: Annotated[Period, typer.Option(help="day, week (from Monday) or month")] = Period.day,
    per: Annotated[Per, typer.Option(help="one column per topic or per source")] = Per.topic,
    topic: TopicOpt = None,
    source: SourceOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    language: LangOpt = None,
    min_score: ScoreOpt = None,
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Articles per day, week or month, per topic or source, for any search.

    Examples: newsmon stats --by week --since 90d;  newsmon stats nickel --per source
    """
    request = build_request(
        query=query, topic=topic, source=source, since=since, until=until, language=language,
        min_score=min_score,
    )  # fmt: skip
    archive = Archive(open_config(config, db).resolve_storage_url())
    try:
        with archive.reader() as session:
            rows = stats(session, request, by=by.value, per=None if per is Per.all else per.value)
    finally:
        archive.close()
    if fmt is not Format.table:
        records = ({"period": p, per.value: g, "articles": n} for p, g, n in rows)
        write_records(records, fmt, columns=["period", per.value, "articles"])
        return
    print_pivot(
        rows, title=f"Articles per {by.value}" + ("" if per is Per.all else f" and {per.value}")
    )


def print_pivot(rows: list[tuple[str, str, int]], *, title: str) -> None:
    """Periods down, groups across, with totals: how people read counts over time."""
    groups = sorted({g for _p, g, _n in rows})
    cells: dict[str, dict[str, int]] = {}
    for period, group, count in rows:
        cells.setdefault(period, {})[group] = count
    table = Table(title=title)
    table.add_column("period")
    for group in groups:
        table.add_column(group, justify="right")
    if len(groups) > 1:
        table.add_column("total", justify="right")
    for period, counts in cells.items():
        values: list[Any] = [str(counts.get(g, "")) for g in groups]
        if len(groups) > 1:
            values.append(str(sum(counts.values())))
        table.add_row(period, *values)
    Console().print(table)
