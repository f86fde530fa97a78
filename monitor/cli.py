"""The ``newsmon`` command: thin wrappers over library functions.

Every command takes ``--config`` and ``--db``; every :class:`NewsmonError` is
printed as one line (or a few, for config errors) with a non-zero exit code,
never as a traceback.
"""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from monitor.config import Config, load_config
from monitor.errors import ConfigError, NewsmonError

app = typer.Typer(
    name="newsmon",
    help="Watch news sources, tag stories by topic, alert, and search the archive.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(help="Check the configuration file.", no_args_is_help=True)
app.add_typer(config_app, name="config")
db_app = typer.Typer(help="Archive maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")

err = Console(stderr=True)
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Config file [default: ./config.yaml].", show_default=False
    ),
]
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL; overrides storage.url (e.g. sqlite:///x.db).",
        show_default=False,
    ),
]


def open_config(config: Path | None, db: str | None) -> Config:
    return load_config(config).with_storage_url(db)


_RELATIVE = re.compile(r"^(\d+)\s*([hdwm])$")


def parse_when(value: str | None, *, option: str) -> datetime | None:
    """``7d``, ``24h``, ``2w``, ``2026-03-01`` or a full ISO timestamp, as aware UTC."""
    if not value:
        return None
    match = _RELATIVE.match(value.strip().lower())
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        delta = {"h": timedelta(hours=amount), "d": timedelta(days=amount),
                 "w": timedelta(weeks=amount), "m": timedelta(days=30 * amount)}[unit]  # fmt: skip
        return datetime.now(UTC) - delta
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(
            f"{option} {value!r}: use 7d, 24h, 2w or a date like 2026-03-01"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@config_app.command("check")
def config_check(config: ConfigOpt = None, db: DbOpt = None) -> None:
    """Validate the config file and its topic rules; exit 0 when usable.

    Example: newsmon config check --config config.yaml
    """
    cfg = open_config(config, db)
    exit_on_rule_errors(cfg)
    typer.echo(
        f"{cfg.path}: ok — {len(cfg.sources)} sources, {len(cfg.topics)} topics, "
        f"{len(cfg.alerts.routes)} alert routes to {len(cfg.alerts.channels)} channels, "
        f"storage {cfg.resolve_storage_url()}"
    )


def exit_on_rule_errors(cfg: Config) -> None:
    """Print every topic's syntax error (topic, column, caret) and exit 2 if there are any."""
    from rich.markup import escape

    from monitor.rules import check_rules

    problems = check_rules(cfg.topics)
    for problem in problems:
        err.print(f"[red]error:[/red] {escape(str(problem))}", highlight=False)
    if problems:
        raise typer.Exit(2)


def main() -> None:
    from monitor import (  # noqa: F401 - registers the commands
        commands_alerts,
        commands_archive,
        commands_db,
        commands_poll,
        commands_report,
        commands_rules,
        commands_status,
        commands_web,
    )

    try:
        app()
    except NewsmonError as exc:
        from monitor.logs import redact

        err.print(f"[red]error:[/red] {redact(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
