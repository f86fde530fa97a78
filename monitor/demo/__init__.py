"""``newsmon demo``: the whole product, offline, in under a minute.

A bundled set of fictional news sites (``stories.yaml`` rendered by ``site.py``:
feeds of every kind, article pages, a listing page, syndicated stories, a page
with no text, a missing page, a broken feed) is served on 127.0.0.1 and polled
by the real pipeline into a demo archive, with the topics of the user's config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.engine import make_url

from monitor.config import Config, SourceConfig, load_config
from monitor.demo.server import SiteServer
from monitor.demo.site import build_routes, demo_source_list
from monitor.errors import ConfigError

DEMO_FETCH = {
    "download_delay": 0,
    "autothrottle": False,
    "concurrent_per_domain": 8,
    "timeout": 10,
    "retries": 0,
}


def demo_sources(base_url: str) -> list[SourceConfig]:
    return [SourceConfig.model_validate(item) for item in demo_source_list(base_url)]


def demo_config(base: Config, *, base_url: str, db_url: str) -> Config:
    """The user's topics (and alert routes), the demo's sources, storage and fetch limits."""
    fetch = base.fetch.model_copy(update=DEMO_FETCH)
    return base.model_copy(
        update={
            "sources": demo_sources(base_url),
            "fetch": fetch,
            "storage": base.storage.model_copy(update={"url": db_url}),
        }
    )


def reset_sqlite(db_url: str) -> None:
    url = make_url(db_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return
    for suffix in ("", "-wal", "-shm"):
        Path(url.database + suffix).unlink(missing_ok=True)


def run_demo(
    *, config_path: Path | None, db_url: str, keep: bool, port: int, console: Console
) -> dict[str, Any]:
    from monitor.commands_poll import poll_with_progress, print_summary
    from monitor.poller import Monitor

    path = config_path or Path("config.yaml")
    if not path.exists():
        raise ConfigError(
            f"{path}: not found; run the demo from the project folder or pass --config"
        )
    base = load_config(path)
    if not keep:
        reset_sqlite(db_url)
    with SiteServer(port=port) as server:
        server.routes.update(build_routes(server.base_url))
        config = demo_config(base, base_url=server.base_url, db_url=db_url)
        console.print(f"Serving the bundled demo news sites at {server.base_url}/")
        monitor = Monitor(config)
        try:
            monitor.sync_sources()
            reports = poll_with_progress(monitor, None)
            print_summary(reports)
            summary = print_archive(monitor, console)
        finally:
            monitor.close()
    console.print(
        f"\nTry: [bold]newsmon search --db {db_url} nickel[/bold] · "
        f"[bold]newsmon show --db {db_url} ID[/bold] · "
        f"[bold]newsmon sources --db {db_url}[/bold]"
    )
    return summary


def print_archive(monitor: Any, console: Console) -> dict[str, Any]:
    from storage.search import SearchRequest, count_articles, search

    with monitor.archive.reader() as session:
        total = count_articles(session)
        rows = search(session, SearchRequest(sort="date", limit=1000))
    table = Table(title=f"Archive: {total} articles")
    for column in ("id", "source", "topics", "extraction", "title"):
        table.add_column(column, overflow="fold")
    per_topic: dict[str, int] = {}
    for row in sorted(rows, key=lambda r: r.id):
        for topic, _score in row.topics:
            per_topic[topic] = per_topic.get(topic, 0) + 1
        topics = ", ".join(f"{t} {s:.1f}" for t, s in row.topics) or "[dim]—[/dim]"
        table.add_row(
            str(row.id), escape(" + ".join(row.sources)), topics, row.extraction, escape(row.title)
        )
    console.print(table)
    console.print(
        "Tagged: " + (", ".join(f"{t} {n}" for t, n in sorted(per_topic.items())) or "nothing")
    )
    return {"articles": total, "per_topic": per_topic}
