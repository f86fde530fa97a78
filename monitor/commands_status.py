"""``newsmon status``: is the daemon alive, what runs next, how the sources and the outbox are."""

from __future__ import annotations

import fcntl
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from monitor.cli import ConfigOpt, DbOpt, app, open_config
from monitor.daemon import HEARTBEAT_S, STATE_MARK, DaemonLock
from storage.db import Archive
from storage.marks import marks_named
from storage.models import Alert, Article, PollRun, Source
from storage.outbox import outbox_counts, waiting_digest_items

out = Console()


def lock_is_held(database_url: str) -> bool | None:
    """Whether a daemon holds the archive's lock (None: not a SQLite file, cannot tell)."""
    path = DaemonLock(database_url).path
    if path is None:
        return None
    if not path.exists():
        return False
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def database_bytes(database_url: str) -> int | None:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return sum(
        Path(url.database + suffix).stat().st_size
        for suffix in ("", "-wal")
        if Path(url.database + suffix).exists()
    )


def collect(archive: Archive, database_url: str, now: datetime) -> dict[str, Any]:
    with archive.reader() as session:
        marks = sorted(marks_named(session, STATE_MARK), key=lambda m: m.at, reverse=True)
        day_ago = now - timedelta(hours=24)
        polls = session.execute(
            select(PollRun.status, func.count(), func.coalesce(func.sum(PollRun.new), 0))
            .where(PollRun.finished_at >= day_ago)
            .group_by(PollRun.status)
        ).all()
        last_poll = session.execute(select(func.max(PollRun.finished_at))).scalar()
        sources = session.execute(
            select(func.count(), func.count().filter(Source.consecutive_failures > 0)).where(
                Source.enabled.is_(True), Source.adhoc.is_(False)
            )
        ).one()
        failing = session.execute(
            select(Source.name, Source.consecutive_failures, Source.last_error)
            .where(Source.consecutive_failures > 0, Source.enabled.is_(True))
            .order_by(Source.consecutive_failures.desc())
            .limit(10)
        ).all()
        oldest_pending = session.execute(
            select(func.min(Alert.created_at)).where(Alert.status == "pending")
        ).scalar()
        articles = session.execute(select(func.count()).select_from(Article)).scalar_one()
        outbox = outbox_counts(session)
        waiting = waiting_digest_items(session)
    held = lock_is_held(database_url)

    def beating(mark: Any) -> bool:
        state = mark.value or {}
        age = (now - mark.at).total_seconds()
        return not state.get("stopped", True) and age < 4 * HEARTBEAT_S and held is not False

    workers = [
        {**{k: (m.value or {}).get(k) for k in ("worker", "pid", "host", "polls_done", "polling")},
         "last_heartbeat_s": round((now - m.at).total_seconds(), 1)}
        for m in marks if beating(m)
    ]  # fmt: skip
    mark = next((m for m in marks if beating(m)), marks[0] if marks else None)
    state = mark.value if mark and mark.value else {}
    beat_age = (now - mark.at).total_seconds() if mark else None
    alive = mark is not None and beating(mark)
    return {
        "daemon": {
            "running": alive, "lock_held": held, "pid": state.get("pid"), "host": state.get("host"),
            "started_at": state.get("started_at"), "polls_done": state.get("polls_done"),
            "last_heartbeat_s": round(beat_age, 1) if beat_age is not None else None,
        },
        "workers": workers,
        "jobs": state.get("jobs", []) if alive else [],
        "polls_24h": {
            status: {"polls": int(n), "new_articles": int(new)} for status, n, new in polls
        },
        "last_poll": last_poll.isoformat(timespec="seconds") if last_poll else None,
        "sources": {"enabled": int(sources[0]), "failing": int(sources[1]),
                    "worst": [{"name": n, "failures": f, "error": e} for n, f, e in failing]},
        "outbox": {**outbox, "digest_items_waiting": waiting,
                   "oldest_pending_s": round((now - oldest_pending).total_seconds())
                   if oldest_pending else None},
        "archive": {"articles": articles, "url": database_url,
                    "bytes": database_bytes(database_url)},
    }  # fmt: skip


@app.command("status")
def status_command(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object, for scripts.")] = False,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """The daemon (alive? next runs), polls of the last 24 h, failing sources, outbox, archive size.

    Example: newsmon status;  newsmon status --json | jq .outbox
    """
    cfg = open_config(config, db)
    url = cfg.resolve_storage_url()
    archive = Archive(url)
    try:
        report = collect(archive, url, datetime.now(UTC))
    finally:
        archive.close()
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    show(report)


def show(report: dict[str, Any]) -> None:
    daemon = report["daemon"]
    if daemon["running"]:
        out.print(f"[green]daemon running[/green] (pid {daemon['pid']} on {daemon['host']}, "
                  f"since {daemon['started_at'][:19]}, {daemon['polls_done']} polls, "
                  f"heartbeat {daemon['last_heartbeat_s']}s ago)")  # fmt: skip
        if len(report["workers"]) > 1:
            out.print(f"{len(report['workers'])} workers share the archive:")
            for worker in report["workers"]:
                out.print(f"  {escape(str(worker['worker']))}: {worker['polls_done']} polls, "
                          f"{worker['polling']} sources in flight")  # fmt: skip
    else:
        out.print("[yellow]daemon not running[/yellow]" + (
            f" (last heartbeat {daemon['last_heartbeat_s']:.0f}s ago)"
            if daemon["last_heartbeat_s"] is not None else ""
        ))  # fmt: skip
    if report["jobs"]:
        table = Table(title="Next runs")
        table.add_column("job")
        table.add_column("next run (UTC)")
        for job in sorted(report["jobs"], key=lambda j: j["next_run"] or "~")[:15]:
            table.add_row(escape(job["name"]), (job["next_run"] or "paused")[:19])
        if len(report["jobs"]) > 15:
            table.caption = f"and {len(report['jobs']) - 15} more"
        out.print(table)
    polls = report["polls_24h"]
    total = sum(p["polls"] for p in polls.values())
    new = sum(p["new_articles"] for p in polls.values())
    failed = polls.get("failed", {}).get("polls", 0)
    out.print(f"polls in the last 24 h: {total} ({failed} failed), {new} new articles; "
              f"last poll {report['last_poll'] or 'never'}")  # fmt: skip
    sources = report["sources"]
    out.print(f"sources: {sources['enabled']} enabled, {sources['failing']} failing")
    for worst in sources["worst"]:
        out.print(f"  [red]{escape(worst['name'])}[/red]: {worst['failures']} failures: "
                  f"{escape((worst['error'] or '')[:120])}")  # fmt: skip
    box = report["outbox"]
    age = f", oldest pending {box['oldest_pending_s']}s" if box["oldest_pending_s"] else ""
    out.print(f"outbox: {box['pending']} pending{age}, {box['sent']} sent, {box['dead']} dead, "
              f"{box['digest_items_waiting']} stories waiting for digests")  # fmt: skip
    size = report["archive"]["bytes"]
    out.print(f"archive: {report['archive']['articles']} articles"
              + (f", {size / 1e6:.1f} MB on disk" if size is not None else ""))  # fmt: skip
