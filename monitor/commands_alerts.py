"""``newsmon alerts``: look into the outbox, revive dead alerts, test channels."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from monitor.cli import ConfigOpt, DbOpt, app, open_config
from monitor.errors import ConfigError, DeliveryError, NewsmonError
from monitor.output import Format, write_records

alerts_app = typer.Typer(help="The alert outbox and channels.", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")
out = Console()
STATUSES = ("pending", "sent", "dead")


@alerts_app.command("list")
def list_command(
    status: Annotated[str | None, typer.Option(help="pending, sent or dead")] = None,
    route: Annotated[str | None, typer.Option(help="Only this route.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 50,
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Owed, sent and dead alerts, newest first.

    Example: newsmon alerts list --status dead
    """
    from storage.db import Archive
    from storage.outbox import list_alerts

    if status and status not in STATUSES:
        raise ConfigError(f"--status {status!r}: use one of {', '.join(STATUSES)}")
    archive = Archive(open_config(config, db).resolve_storage_url())
    try:
        with archive.reader() as session:
            rows = [
                alert_record(a)
                for a in list_alerts(session, status=status, route=route, limit=limit)
            ]
    finally:
        archive.close()
    columns = ["id", "status", "route", "channel", "kind", "attempts", "created", "when", "about",
               "error"]  # fmt: skip
    write_records(rows, fmt, columns=columns, title=f"{len(rows)} alerts")


def alert_record(alert: Any) -> dict[str, Any]:
    message = (alert.payload or {}).get("message") or {}
    stories = message.get("stories") or []
    if alert.kind == "digest":
        count = len(stories) or len((alert.payload or {}).get("spec", {}).get("stories", []))
        about = f"{count} stories"
    else:
        about = stories[0]["title"] if stories else f"story {alert.story_id}"
    when = alert.sent_at if alert.status == "sent" else alert.next_attempt_at
    return {
        "id": alert.id, "status": alert.status, "route": alert.route, "channel": alert.channel,
        "kind": alert.kind, "attempts": alert.attempts,
        "created": alert.created_at.isoformat(timespec="seconds"),
        "when": when.isoformat(timespec="seconds") if when and alert.status != "dead" else "",
        "about": about, "error": alert.last_error or "",
    }  # fmt: skip


@alerts_app.command("retry")
def retry_command(
    ids: Annotated[list[int] | None, typer.Argument(help="Alert ids (from alerts list).")] = None,
    dead: Annotated[bool, typer.Option("--dead", help="Every dead alert.")] = False,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Make alerts due again now, with a fresh attempt budget (a running daemon sends them).

    Examples: newsmon alerts retry 12 13;  newsmon alerts retry --dead
    """
    from storage.db import Archive
    from storage.outbox import retry_alerts

    if not ids and not dead:
        raise ConfigError("give alert ids, or --dead for every dead alert")
    archive = Archive(open_config(config, db).resolve_storage_url())
    try:
        with archive.session() as session:
            count = retry_alerts(session, now=datetime.now(UTC), ids=ids or (), dead=dead)
    finally:
        archive.close()
    out.print(f"{count} alerts will be sent again at the next dispatch")


@alerts_app.command("test")
def test_command(
    target: Annotated[
        str | None, typer.Argument(help="A route or channel name; default: every channel.")
    ] = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Send a test message now (not through the outbox) and say exactly what failed.

    Example: newsmon alerts test ev-now
    """
    from monitor.alerts.channels import open_channel, render_for
    from monitor.alerts.message import Message
    from monitor.logs import redact, register_secret

    cfg = open_config(config, db)
    alerts = cfg.alerts
    for secret in alerts.secrets():
        register_secret(secret)
    if not alerts.channels:
        raise ConfigError(f"{cfg.path}: no alert channels are configured (alerts.channels)")
    if target is None:
        names, label = sorted(alerts.channels), "all channels"
    elif target in alerts.routes:
        names, label = alerts.routes[target].channels, f"route {target}"
    elif target in alerts.channels:
        names, label = [target], f"channel {target}"
    else:
        known = ", ".join(sorted({*alerts.routes, *alerts.channels}))
        raise ConfigError(f"{target!r} is neither a route nor a channel (known: {known})")
    note = f"If you can read this, newsmon can reach this channel ({label})."
    failed = 0
    for name in names:
        message = Message("test", target or name, note=note)
        try:
            channel = open_channel(
                name, alerts.channels[name], base=cfg.path.parent if cfg.path else None
            )
            for part in render_for(
                channel, message, f"test|{name}|{datetime.now(UTC).isoformat()}"
            ):
                channel.post(part)
        except (DeliveryError, NewsmonError) as exc:
            failed += 1
            out.print(f"[red]✗[/red] {escape(name)}: {escape(redact(str(exc)))}", highlight=False)
        else:
            out.print(f"[green]✓[/green] {escape(name)}: test message delivered", highlight=False)
    if failed:
        raise typer.Exit(1)
