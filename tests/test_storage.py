"""The archive under concurrent use: readers never wait for writers on SQLite."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from storage.db import Archive
from storage.models import Source


def test_a_reader_is_not_blocked_by_an_open_write_transaction(tmp_path):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    writer, reader = Archive(url), Archive(url, migrate=False)
    try:
        with writer.session() as session:
            session.add(
                Source(name="s", url="http://x/", kind="feed", created_at=datetime.now(UTC))
            )
            session.flush()  # the write lock is held until this block ends
            with reader.reader() as read:
                # Sees the last committed state (no source yet) instead of waiting for the lock.
                assert read.execute(select(func.count()).select_from(Source)).scalar_one() == 0
        with reader.reader() as read:
            assert read.execute(select(func.count()).select_from(Source)).scalar_one() == 1
    finally:
        writer.close()
        reader.close()


def _add(archive: Archive, ids: range) -> None:
    from sqlalchemy import insert

    from storage.models import Article

    now = datetime.now(UTC)
    with archive.session() as session:
        session.execute(
            insert(Article.__table__),
            [{"id": i, "canonical_url": f"http://x/{i}", "title": f"Item {i}",
              "text": f"quokka number {i}", "summary": "", "fetched_at": now,
              "extraction": "full"} for i in ids],
        )  # fmt: skip


def _found(archive: Archive) -> list[int]:
    from storage.search import SearchRequest, search

    with archive.reader() as session:
        return sorted(r.id for r in search(session, SearchRequest(query="quokka", limit=100)))


def test_bulk_ingest_indexes_at_the_end_and_a_crash_is_repaired_on_open(tmp_path):
    from storage.bulk import bulk_ingest

    url = f"sqlite:///{tmp_path / 'bulk.db'}"
    archive = Archive(url)
    _add(archive, range(1, 4))  # indexed one by one, as the daemon stores them
    with bulk_ingest(archive):
        _add(archive, range(4, 10))
        assert _found(archive) == [1, 2, 3]  # not yet indexed
    assert _found(archive) == list(range(1, 10))
    _add(archive, range(10, 11))  # the trigger is back
    assert _found(archive) == list(range(1, 11))

    block = bulk_ingest(archive)
    block.__enter__()
    _add(archive, range(11, 15))
    archive.close()  # the importer dies before the block ends
    reopened = Archive(url)
    try:
        assert _found(reopened) == list(range(1, 15))
        _add(reopened, range(15, 16))
        assert _found(reopened) == list(range(1, 16))
        with reopened.engine.connect() as connection:  # FTS5 raises if index and table disagree
            connection.exec_driver_sql(
                "INSERT INTO articles_fts(articles_fts, rank) VALUES('integrity-check', 1)"
            )
    finally:
        reopened.close()
