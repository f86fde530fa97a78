"""Bulk ingest: store many articles first, index their text in one pass at the end.

The FTS5 index is normally kept by a trigger, one article at a time; for an import
of thousands of articles, indexing them afterwards with one ``INSERT … SELECT`` is
1.7× faster overall (bench/search.py). The trigger is dropped for the duration and a
durable mark records which articles still need indexing, so a crash in the middle
is repaired the next time the archive is opened (:func:`finish_deferred_index`).
Articles added meanwhile by a running daemon are covered too: everything after the
mark is indexed. Nothing may delete or edit articles during a bulk ingest (nothing in
newsmon does): the index would be asked to forget text it has not seen yet.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.marks import get_mark, set_mark
from storage.models import Article

MARK = "fts:deferred"
INSERT_TRIGGER = """CREATE TRIGGER IF NOT EXISTS articles_fts_insert AFTER INSERT ON articles BEGIN
        INSERT INTO articles_fts(rowid, title, text) VALUES (new.id, new.title, new.text);
    END"""


@contextmanager
def bulk_ingest(archive: object) -> Iterator[None]:
    """Within this block, stored articles are indexed for search when the block ends."""
    if not getattr(archive, "is_sqlite", False):  # PostgreSQL keeps a generated tsvector
        yield
        return
    with archive.session() as session:  # type: ignore[attr-defined]
        after = session.execute(select(func.coalesce(func.max(Article.id), 0))).scalar_one()
        if get_mark(session, MARK) is None:
            set_mark(session, MARK, datetime.now(UTC), {"after_id": int(after)})
        session.connection().exec_driver_sql("DROP TRIGGER IF EXISTS articles_fts_insert")
    yield
    finish_deferred_index(archive)


def finish_deferred_index(archive: object) -> int:
    """Index what a bulk ingest left unindexed and restore the trigger; the number indexed."""
    with archive.session() as session:  # type: ignore[attr-defined]
        return _finish(session)


def _finish(session: Session) -> int:
    mark = get_mark(session, MARK)
    if mark is None:
        return 0
    after = int((mark.value or {}).get("after_id", 0))
    connection = session.connection()
    result = connection.exec_driver_sql(
        "INSERT INTO articles_fts(rowid, title, text) SELECT id, title, text FROM articles "
        "WHERE id > ?",
        (after,),
    )
    connection.exec_driver_sql(INSERT_TRIGGER)
    session.delete(mark)
    return int(result.rowcount or 0)
