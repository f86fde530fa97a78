"""``newsmon db``: schema upgrades and moving an archive to PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.engine import make_url

from monitor.cli import ConfigOpt, DbOpt, db_app, open_config
from monitor.errors import UsageError

err = Console(stderr=True)


def shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt = None, db: DbOpt = None) -> None:
    """Apply any pending schema migrations (the daemon also does this at start)."""
    from storage.db import Archive

    url = open_config(config, db).resolve_storage_url()
    Archive(url).close()
    typer.echo(f"archive at {shown(url)} is up to date")


def sqlite_url(value: str) -> str:
    if "://" not in value:
        path = Path(value).expanduser()
        if not path.is_file():
            raise UsageError(f"{value}: no such SQLite archive")
        return f"sqlite:///{path.resolve()}"
    if make_url(value).get_backend_name() != "sqlite":
        raise UsageError(f"{shown(value)}: SRC must be a SQLite archive (a path or sqlite:///…)")
    return value


@db_app.command("migrate-sqlite-to-postgres")
def migrate_sqlite_to_postgres(
    src: Annotated[str, typer.Argument(help="The SQLite archive: a path or sqlite:///URL.")],
    dst: Annotated[str, typer.Argument(help="postgresql://user@host/db (migrated if empty).")],
    chunk: Annotated[int, typer.Option(help="Rows per transaction.", min=1)] = 2000,
) -> None:
    """Copy an archive into PostgreSQL, with progress; run it again to resume after an interruption.

    Stop the daemon writing SRC first (the command refuses while it runs). Ids are
    kept, so links and alerts stay valid; the daemons then point at DST.
    Example: newsmon db migrate-sqlite-to-postgres data/newsmon.db postgresql://newsmon@db/news
    """
    from monitor.commands_status import lock_is_held
    from storage.db import Archive
    from storage.transfer import copy_archive

    source_url = sqlite_url(src)
    if make_url(dst).get_backend_name() != "postgresql":
        raise UsageError(f"{shown(dst)}: DST must be a postgresql:// URL")
    if lock_is_held(source_url):
        raise UsageError(
            f"a newsmon daemon is writing {shown(source_url)}: stop it first, so that the copy "
            "is exact (alerts it sends meanwhile would be owed again by the new archive)"
        )
    source, target = Archive(source_url), Archive(dst)
    try:
        columns = (TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn())  # fmt: skip
        with Progress(*columns, console=err) as bar:
            tasks: dict[str, int] = {}

            def advance(table: str, done: int, total: int) -> None:
                if table not in tasks:
                    tasks[table] = bar.add_task(table, total=max(total, done))
                bar.update(tasks[table], completed=done, total=max(total, done))

            copied = copy_archive(source, target, chunk=chunk, progress=advance)
    finally:
        source.close()
        target.close()
    typer.echo(
        f"copied {sum(copied.values())} rows to {shown(dst)} "
        + "("
        + ", ".join(f"{name} {n}" for name, n in copied.items() if n)
        + ")"
        if any(copied.values())
        else f"nothing new to copy: {shown(dst)} already holds every row of {shown(source_url)}"
    )
