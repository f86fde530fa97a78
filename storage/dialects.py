"""What SQLite and PostgreSQL spell differently: ignoring a duplicate insert, a transaction lock.

Every writer that must be safe against a second daemon uses these two, so the
same code is correct on both backends: SQLite has one writer at a time, so the
lock is a no-op there; PostgreSQL takes an advisory lock held to commit.
"""

from __future__ import annotations

import hashlib
from functools import cache

from sqlalchemy import Connection, Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

_INSERT = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


@cache
def insert_ignoring_conflicts(table: Table, dialect: str) -> Insert:
    """``INSERT … ON CONFLICT DO NOTHING`` for ``table``, built once per dialect."""
    return _INSERT[dialect](table).on_conflict_do_nothing()


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``name`` (Python's hash() differs between processes)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def lock_for_transaction(connection: Connection, name: str) -> None:
    """Wait for, then hold, the lock ``name`` until this transaction ends (PostgreSQL only)."""
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(lock_key(name))))
