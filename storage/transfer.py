"""Copying an archive to another database (SQLite → PostgreSQL when a team outgrows one machine).

Tables are copied in foreign-key order, in chunks ordered by primary key. Each
chunk is inserted with ``ON CONFLICT DO NOTHING`` and, in the same destination
transaction, the last key copied is recorded as a job mark; so an interrupted
copy resumes after the last committed chunk. The source must not change while
it is copied: a row updated after its chunk went over (an alert sent, say) would
arrive stale, so the CLI refuses while a daemon holds the archive. Primary keys
are kept, so article ids, links and alert references stay valid, and the
destination's id sequences are moved past them at the end. PostgreSQL fills its
full-text column itself (it is generated).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, func, select, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from storage.db import Archive
from storage.marks import get_mark, set_mark
from storage.models import (
    Alert,
    Article,
    ArticleSource,
    ArticleUrl,
    DigestItem,
    JobMark,
    PollRun,
    Source,
    Story,
    Tag,
)

ORDER: tuple[Table, ...] = tuple(
    model.__table__  # type: ignore[misc]
    for model in (
        Source, Story, Article, ArticleUrl, ArticleSource, Tag, Alert, DigestItem, PollRun, JobMark,
    )
)  # fmt: skip
MARK_PREFIX = "migrate:"
# Marks that describe the old deployment, not the archive: a stopped daemon's heartbeat.
NOT_COPIED_MARKS = ("daemon:state", MARK_PREFIX)
Progress = Callable[[str, int, int], None]


def _insert_ignoring(table: Table, dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing()


def copy_archive(
    source: Archive, target: Archive, *, chunk: int = 2000, progress: Progress | None = None
) -> dict[str, int]:
    """Copy every table of ``source`` into ``target``; rows copied this run, per table."""
    copied: dict[str, int] = {}
    dialect = target.engine.dialect.name
    for table in ORDER:
        keys = list(table.primary_key.columns)
        mark_name = f"{MARK_PREFIX}{table.name}"
        with source.reader() as session:
            total = session.execute(select(func.count()).select_from(table)).scalar_one()
        with target.reader() as session:
            mark = get_mark(session, mark_name)
            after = (mark.value or {}).get("after") if mark else None
            done = (mark.value or {}).get("rows", 0) if mark else 0
        copied[table.name] = 0
        if progress:
            progress(table.name, done, total)
        while True:
            query = select(table).order_by(*keys).limit(chunk)
            if after is not None:
                query = query.where(tuple_(*keys) > tuple_(*after))
            with source.reader() as session:
                rows = [dict(row._mapping) for row in session.execute(query)]
            if not rows:
                break
            after = [rows[-1][key.name] for key in keys]
            wanted = rows
            if table is JobMark.__table__:
                wanted = [r for r in rows if not r["name"].startswith(NOT_COPIED_MARKS)]
            done += len(rows)
            with target.session() as session:
                if wanted:
                    session.execute(_insert_ignoring(table, dialect), wanted)
                set_mark(session, mark_name, datetime.now(UTC), {"after": after, "rows": done})
            copied[table.name] += len(rows)
            if progress:
                progress(table.name, done, total)
    if dialect == "postgresql":
        _move_sequences(target)
    return copied


def _move_sequences(target: Archive) -> None:
    """Ids were copied as they were: the next id each table hands out must be past them."""
    with target.session() as session:
        for table in ORDER:
            if "id" not in table.c or len(table.primary_key.columns) != 1:
                continue
            session.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"coalesce((SELECT max(id) FROM {table.name}), 0) + 1, false)"
                )
            )
