"""Commands that fetch: ``run``, ``daemon`` and ``demo``."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from monitor.cli import ConfigOpt, DbOpt, app, open_config
from monitor.poller import Monitor, PollReport
from spiders.crawl import run as run_on_reactor

out = Console()
OFFLINE_HINT = "no network? try `newsmon demo` to see newsmon work on bundled sources"


@app.command("run")
def run_command(
    once: Annotated[
        bool, typer.Option("--once", help="Poll every source once, then exit.")
    ] = False,
    source: Annotated[
        list[str] | None,
        typer.Option(
            "--source", "-s", help="Poll just this URL (feed, sitemap or page); repeatable."
        ),
    ] = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
    log_format: Annotated[str, typer.Option(help="text or json (daemon mode)")] = "text",
) -> None:
    """Poll sources. With --once: one poll, a progress bar, then a summary table.

    Examples: newsmon run --once;  newsmon run --once --source https://example.org/feed.xml
    """
    if not once and not source:
        daemon_command(config=config, db=db, log_format=log_format, metrics_port=None)
        return
    cfg = open_config(config, db)
    monitor = Monitor(cfg)
    try:
        monitor.sync_sources()
        names = monitor.adhoc_sources(source) if source else None
        reports = poll_with_progress(monitor, names)
        sent = monitor.alerts.deliver_now() if monitor.alerts.enabled else None
    finally:
        monitor.close()
    print_summary(reports)
    if sent is not None and sent.claimed:
        out.print(
            f"alerts: {sent.sent} sent, {sent.failed} to retry, {sent.dead} dead"
            + (f", {sent.postponed} waiting on a down channel" if sent.postponed else "")
        )
    if reports and all(r.status == "failed" for r in reports):
        raise typer.Exit(1)


def poll_with_progress(monitor: Monitor, names: list[str] | None) -> list[PollReport]:
    total = len(monitor.specs(names))
    progress = Progress(
        TextColumn("polling"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=Console(stderr=True), transient=True,
    )  # fmt: skip
    with progress:
        task = progress.add_task("poll", total=total)
        return run_on_reactor(
            lambda: monitor.poll(names, on_source_done=lambda _o: progress.advance(task))
        )


def print_summary(reports: list[PollReport]) -> None:
    table = Table(title="Poll summary")
    for column in ("source", "status", "new", "unchanged", "failed", "time", "error"):
        table.add_column(column, overflow="fold")
    dns_failures = 0
    for r in reports:
        unchanged = "all (304)" if r.status == "not_modified" else str(r.known)
        style = {"failed": "red", "not_modified": "dim"}.get(r.status, "green")
        status = r.status.replace("_", " ")
        error = r.error or ""
        dns_failures += "DNS lookup failed" in error
        table.add_row(
            r.name, f"[{style}]{status}[/{style}]", str(r.new), unchanged,
            str(r.failed_articles), f"{r.seconds:.1f}s", error,
        )  # fmt: skip
    out.print(table)
    new = sum(r.new for r in reports)
    failed = sum(r.status == "failed" for r in reports)
    out.print(f"{len(reports)} sources, {new} new articles, {failed} failed")
    if reports and dns_failures == len(reports):
        out.print(f"[yellow]{OFFLINE_HINT}[/yellow]")


@app.command("daemon")
def daemon_command(
    config: ConfigOpt = None,
    db: DbOpt = None,
    log_format: Annotated[str, typer.Option(help="text or json")] = "text",
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve /metrics and /healthz here [default: daemon.metrics_port]"),
    ] = None,
) -> None:
    """Run forever: poll each source on its interval; SIGTERM/SIGINT stop cleanly.

    Example: newsmon daemon --config config.yaml
    """
    from monitor.daemon import Daemon, DaemonLock
    from monitor.logs import setup_logging

    setup_logging(log_format)
    cfg = open_config(config, db)
    lock = DaemonLock(cfg.resolve_storage_url())
    lock.acquire()
    monitor = Monitor(cfg)
    metrics = None
    port = metrics_port if metrics_port is not None else cfg.daemon.metrics_port
    try:
        logging.getLogger("newsmon").info(
            "newsmon daemon: %d sources, %d topics, archive %s",
            len(cfg.sources), len(cfg.topics), cfg.resolve_storage_url(),
        )  # fmt: skip
        if port is not None:
            from monitor.metrics import Metrics

            metrics = Metrics()
            bound = metrics.serve(port, cfg.daemon.metrics_host)
            logging.getLogger("newsmon").info(
                "metrics at http://%s:%d/metrics, health at /healthz",
                cfg.daemon.metrics_host,
                bound,
            )
        run_on_reactor(Daemon(monitor, metrics=metrics).run)
    finally:
        monitor.close()
        lock.release()


@app.command("demo")
def demo_command(
    config: ConfigOpt = None,
    db: Annotated[
        str, typer.Option("--db", help="Database URL for the demo archive.")
    ] = "sqlite:///data/demo.db",
    keep: Annotated[
        bool, typer.Option(help="Keep an existing demo archive instead of starting afresh.")
    ] = False,
    port: Annotated[
        int, typer.Option(help="Port for the bundled news server (0: any free port).")
    ] = 0,
) -> None:
    """Fully offline: serve bundled news sites on 127.0.0.1 and run the real pipeline on them.

    Example: newsmon demo && newsmon search --db sqlite:///data/demo.db nickel
    """
    from monitor.demo import run_demo

    run_demo(config_path=config, db_url=db, keep=keep, port=port, console=out)
