"""Once-per-cluster work (digests, retention): a PostgreSQL advisory lock, nothing on SQLite.

The lock is taken with ``pg_try_advisory_lock`` on a connection held for the
whole job and released before that connection goes back to the pool: a session
lock left on a pooled connection would stay held by whichever code borrows it
next. If the worker dies, PostgreSQL drops the lock with its connection. On
SQLite one daemon runs at a time (its file lock), so the job always runs.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import func, select

from storage.db import Archive

log = logging.getLogger(__name__)


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``name`` (Python's hash() differs between processes)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def cluster_lock(archive: Archive, name: str) -> Iterator[bool]:
    """Yield True if this process alone runs ``name`` now; False if another worker is running it."""
    if archive.is_sqlite:
        yield True
        return
    key = lock_key(name)
    connection = archive.engine.connect()
    try:
        held = bool(connection.execute(select(func.pg_try_advisory_lock(key))).scalar())
        connection.commit()
        try:
            yield held
        finally:
            if held:
                connection.execute(select(func.pg_advisory_unlock(key)))
                connection.commit()
    except Exception:
        connection.invalidate()  # never return a connection that might still hold the lock
        raise
    finally:
        connection.close()
