"""``newsmon demo``: the whole product, offline, in under a minute.

A bundled set of fictional news sites (``stories.yaml`` rendered by ``site.py``:
feeds of every kind, article pages, a listing page, syndicated stories, a page
with no text, a missing page, a broken feed) is served on 127.0.0.1 and polled
by the real pipeline into a demo archive, with the topics of the user's config.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.engine import make_url

from monitor.alerts.config import FileChannelConfig
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


def demo_config(
    base: Config, *, base_url: str, db_url: str, alerts_file: Path | None = None
) -> Config:
    """The user's topics and alert routes, the demo's sources, storage and fetch limits.

    Every alert channel is swapped for a file, so the demo shows what the routes
    would send without mailing or posting anything.
    """
    fetch = base.fetch.model_copy(update=DEMO_FETCH)
    alerts_file = alerts_file or Path("data/demo-alerts.jsonl")
    channels = {
        name: FileChannelConfig(type="file", path=str(alerts_file.resolve()))
        for name in base.alerts.channels
    }
    return base.model_copy(
        update={
            "sources": demo_sources(base_url),
            "fetch": fetch,
            "storage": base.storage.model_copy(update={"url": db_url}),
            "alerts": base.alerts.model_copy(update={"channels": channels}),
        }
    )


def demo_alerts_file(db_url: str) -> Path:
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).with_name("demo-alerts.jsonl")
    return Path("data/demo-alerts.jsonl")


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
    alerts_file = demo_alerts_file(db_url)
    if not keep:
        reset_sqlite(db_url)
        alerts_file.unlink(missing_ok=True)
    with SiteServer(port=port) as server:
        server.routes.update(build_routes(server.base_url))
        config = demo_config(base, base_url=server.base_url, db_url=db_url, alerts_file=alerts_file)
        console.print(f"Serving the bundled demo news sites at {server.base_url}/")
        monitor = Monitor(config)
        try:
            monitor.sync_sources()
            reports = poll_with_progress(monitor, None)
            print_summary(reports)
            summary = print_archive(monitor, console)
            summary["alerts"] = show_alerts(monitor, alerts_file, console)
        finally:
            monitor.close()
    console.print(
        f"\nTry: [bold]newsmon search --db {db_url} nickel[/bold] · "
        f"[bold]newsmon show --db {db_url} ID[/bold] · "
        f"[bold]newsmon sources --db {db_url}[/bold]"
    )
    return summary


def show_alerts(monitor: Any, alerts_file: Path, console: Console) -> dict[str, Any]:
    """Send what the routes owe (into the demo's file channel) and show it, with digest previews."""
    from monitor.alerts.render import plain_text

    routes = monitor.config.alerts.routes
    if not routes:
        console.print("\nNo alert routes in the config (alerts.routes), so no alerts to show.")
        return {"sent": 0, "digests": {}}
    start = alerts_file.stat().st_size if alerts_file.exists() else 0
    report = monitor.alerts.deliver_now()
    records = []
    if alerts_file.exists():
        with alerts_file.open(encoding="utf-8") as handle:
            handle.seek(start)
            records = [json.loads(line) for line in handle if line.strip()]
    table = Table(title=f"Alerts your routes sent now: {len(records)} (written to {alerts_file})")
    for column in ("route", "channel", "headline"):
        table.add_column(column, overflow="fold")
    for record in records:
        table.add_row(record["route"], record["channel"], escape(record["headline"]))
    console.print(table)
    if records:
        console.print("[bold]The first one, as its channel would show it:[/bold]")
        console.print(escape(records[0]["text"]), highlight=False)
    digests: dict[str, int] = {}
    for name in monitor.alerts.digests.triggers:
        preview = monitor.alerts.preview_digest(name)
        digests[name] = len(preview.stories)
        if not preview.stories:
            continue
        at = monitor.alerts.next_digest_at(name)
        when = at.isoformat(timespec="minutes") if at else "its next cron time"
        console.print(f"[bold]Digest of {escape(name)} due {when}:[/bold]")
        console.print(escape(plain_text(preview)), highlight=False)
    return {"sent": report.sent, "failed": report.failed, "digests": digests}


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
