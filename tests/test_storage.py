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
