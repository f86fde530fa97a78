"""Commands that read the archive: ``search``, ``show``, ``sources``."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from monitor.cli import ConfigOpt, DbOpt, app, err, open_config
from monitor.errors import NewsmonError
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
from storage.search import load_rows, search_page
from storage.sources import source_health

out = Console()
SEARCH_COLUMNS = ("id", "published", "source", "topics", "title")


@app.command("search")
def search_command(
    query: QueryArg = None,
    topic: TopicOpt = None,
    source: SourceOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    language: LangOpt = None,
    min_score: ScoreOpt = None,
    sort: Annotated[str, typer.Option(help="relevance or date")] = "relevance",
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 20,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    cursor: Annotated[
        str | None, typer.Option(help="Continue after the previous page (printed at its end).")
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Search the archive; without a query, list the newest articles.

    Examples: newsmon search nickel --topic ev_supply_chain --since 30d;
    newsmon search --format json --limit 5
    """
    request = build_request(
        query=query, topic=topic, source=source, since=since, until=until, language=language,
        min_score=min_score, sort=sort, limit=limit, offset=offset, cursor=cursor,
    )  # fmt: skip
    archive = Archive(open_config(config, db).resolve_storage_url())
    try:
        with archive.reader() as session:
            page = search_page(session, request)
    finally:
        archive.close()
    records = [row.to_json() for row in page.rows]
    if fmt is Format.table:
        for record in records:
            record["published"] = (record["published"] or record["fetched"])[:16].replace("T", " ")
        write_records(records, fmt, columns=SEARCH_COLUMNS, title=f"{len(records)} articles")
    else:
        write_records(records, fmt, columns=list(records[0]) if records else ["id"])
    if page.next_cursor:
        err.print(f"more: add --cursor {page.next_cursor}", highlight=False)


@app.command("show")
def show_command(
    article_id: Annotated[int, typer.Argument(help="Article id (from search).")],
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """One article: metadata, every source that carried it, topics and why they matched."""
    from storage.models import Article

    archive = Archive(open_config(config, db).resolve_storage_url())
    try:
        with archive.reader() as session:
            article = session.get(Article, article_id)
            if article is None:
                raise NewsmonError(f"no article with id {article_id}")
            row = load_rows(session, [article_id])[0]
            tags = [(t.topic, t.score, t.explanation) for t in article.tags]
            urls = [u.url for u in article.urls]
            text, note = article.text, article.extraction_note
    finally:
        archive.close()
    out.print(f"[bold]{escape(row.title)}[/bold]")
    out.print(f"{row.url}")
    published = row.published.isoformat(timespec="minutes") if row.published else "unknown"
    out.print(f"published {published} · fetched {row.fetched.isoformat(timespec='minutes')}"
              f" · language {row.language or '?'} · extraction {row.extraction}")  # fmt: skip
    if note:
        out.print(f"[yellow]{escape(note)}[/yellow]")
    out.print(f"sources: {escape(', '.join(row.sources))}")
    if len(urls) > 1:
        out.print("also at: " + ", ".join(u for u in urls if u != row.url))
    out.print()
    if not tags:
        out.print("topics: none")
    for topic, score, explanation in tags:
        out.print(f"[green]{topic}[/green] score {score:.2f}: {escape(_explain(explanation))}")
    out.print()
    out.print(escape(text))


def _explain(explanation: dict) -> str:
    from monitor.rules import Tag

    try:
        return Tag.from_json(explanation).explanation()
    except Exception:  # an explanation stored by an older rule engine
        return str(explanation)


sources_app = typer.Typer(
    help="Health of every source; pause or resume one.", invoke_without_command=True
)
app.add_typer(sources_app, name="sources")


@sources_app.callback()
def sources_command(
    ctx: typer.Context,
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Health of every source: last success, last error, consecutive failures, articles.

    Examples: newsmon sources;  newsmon sources disable "Broken Feed";  newsmon sources enable NAME
    """
    if ctx.invoked_subcommand is not None:
        return
    cfg = open_config(config, db)
    archive = Archive(cfg.resolve_storage_url())
    try:
        from monitor.poller import Monitor

        Monitor(cfg, archive=archive).sync_sources()
        with archive.reader() as session:
            health = source_health(session)
    finally:
        archive.close()
    intervals = {s.name: cfg.interval_of(s) for s in cfg.sources}
    records = [
        {
            "name": h.name, "kind": h.kind, "enabled": h.enabled,
            "state": _state(h, intervals.get(h.name, cfg.schedule.default_interval),
                            cfg.schedule.backoff_max),
            "articles": h.articles, "last_success": _when(h.last_success_at),
            "failures": h.consecutive_failures,
            "last_error": h.last_error if h.consecutive_failures else "", "url": h.url,
        }
        for h in health
    ]  # fmt: skip
    columns = ["name", "kind", "state", "articles", "last_success", "failures", "last_error"]
    write_records(records, fmt, columns=columns if fmt is Format.table else [*columns, "url"])


@sources_app.command("disable")
def disable_command(name: str, config: ConfigOpt = None, db: DbOpt = None) -> None:
    """Stop polling a source until `newsmon sources enable` (a running daemon skips it at once)."""
    _set_paused(name, True, config, db)


@sources_app.command("enable")
def enable_command(name: str, config: ConfigOpt = None, db: DbOpt = None) -> None:
    """Poll a paused source again (its failure count and backoff start afresh)."""
    _set_paused(name, False, config, db)


def _set_paused(name: str, paused: bool, config: Any, db: str | None) -> None:
    from storage.sources import set_paused

    cfg = open_config(config, db)
    configured = {s.name: s for s in cfg.sources}
    archive = Archive(cfg.resolve_storage_url())
    try:
        from monitor.poller import Monitor

        Monitor(cfg, archive=archive).sync_sources()
        in_config = configured[name].enabled if name in configured else True
        with archive.session() as session:
            found = set_paused(session, name, paused=paused, configured_enabled=in_config)
    finally:
        archive.close()
    if not found:
        known = ", ".join(sorted(configured)) or "none"
        raise NewsmonError(f"no source named {name!r} (sources: {known})")
    if paused:
        out.print(f"{escape(name)}: disabled; `newsmon sources enable` resumes it")
    elif not in_config:
        out.print(f"{escape(name)}: resumed, but config.yaml says enabled: false; change it there")
    else:
        out.print(f"{escape(name)}: enabled")


def _state(health: Any, interval: float, cap: float) -> str:
    """ok, paused, disabled, or failing with the time of the next try (the daemon's backoff)."""
    from datetime import timedelta

    from monitor.health import backoff_delay

    if health.paused:
        return "paused"
    if not health.enabled:
        return "disabled in config"
    if not health.consecutive_failures or health.last_error_at is None:
        return "ok"
    retry = health.next_poll_at  # the daemon's schedule; computed when only `run` has polled
    if retry is None:
        wait = backoff_delay(health.consecutive_failures, interval, cap)
        retry = health.last_error_at + timedelta(seconds=wait)
    return f"failing; next try {retry.isoformat(timespec='minutes')}"


def _when(moment) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None
