"""Sharing sources between daemons: claim the due ones with a lease, hand them back with a due time.

Every daemon runs the same loop: claim a few sources whose ``next_poll_at`` has
come and whose lease is free or expired, poll them, then release each with its
next due time. On PostgreSQL the claim is ``SELECT … FOR UPDATE SKIP LOCKED``,
so two workers claiming at the same instant take disjoint rows without waiting
on each other; a worker that dies holds its sources only until the lease runs
out. On SQLite the same statements run under the single daemon's write lock.
The due time lives in the row, so schedules and backoff survive restarts and
move freely between workers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from storage.models import Source

_SOURCES = Source.__table__


@dataclass(frozen=True)
class ClaimedSource:
    """A source this worker may poll until ``lease_until``, with its health before the poll."""

    id: int
    name: str
    failures: int
    last_error: str | None
    last_error_at: datetime | None
    last_success_at: datetime | None


def claim_due_sources(
    session: Session, *, owner: str, now: datetime, lease_until: datetime, limit: int
) -> list[ClaimedSource]:
    """Lease up to ``limit`` due sources to ``owner``, most overdue (never polled) first."""
    due = (
        select(
            Source.id,
            Source.name,
            Source.consecutive_failures,
            Source.last_error,
            Source.last_error_at,
            Source.last_success_at,
        )
        .where(
            Source.enabled.is_(True),
            Source.adhoc.is_(False),
            or_(Source.next_poll_at.is_(None), Source.next_poll_at <= now),
            or_(Source.lease_until.is_(None), Source.lease_until <= now),
        )
        .order_by(Source.next_poll_at.asc().nulls_first(), Source.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = session.execute(due).all()
    if not rows:
        return []
    session.execute(
        update(Source)
        .where(Source.id.in_([row.id for row in rows]))
        .values(lease_owner=owner, lease_until=lease_until)
    )
    return [
        ClaimedSource(row.id, row.name, row.consecutive_failures or 0, row.last_error,
                      row.last_error_at, row.last_success_at)
        for row in rows
    ]  # fmt: skip


_RELEASE = (
    update(_SOURCES)
    .where(_SOURCES.c.id == bindparam("sid"), _SOURCES.c.lease_owner == bindparam("owner"))
    .values(lease_owner=None, lease_until=None, next_poll_at=bindparam("due"))
)


def release_sources(session: Session, owner: str, due: Sequence[tuple[int, datetime]]) -> int:
    """Hand polled sources back, each due again at its time; leases lost meanwhile stay lost.

    Returns how many were still ours: a poll that outlived its lease may have been
    claimed by another worker, whose schedule then wins.
    """
    if not due:
        return 0
    result = session.connection().execute(
        _RELEASE, [{"sid": sid, "owner": owner, "due": at} for sid, at in due]
    )
    return result.rowcount


def renew_leases(session: Session, owner: str, ids: Iterable[int], until: datetime) -> int:
    """Extend the leases of sources still being polled (a long poll must not be taken over)."""
    wanted = list(ids)
    if not wanted:
        return 0
    result = session.execute(
        update(Source)
        .where(Source.id.in_(wanted), Source.lease_owner == owner)
        .values(lease_until=until)
    )
    return result.rowcount


def drop_leases(session: Session, owner: str | None = None) -> int:
    """Free leases: one worker's (at shutdown), or all (a single SQLite daemon starting)."""
    statement = update(Source).where(Source.lease_owner.is_not(None))
    if owner is not None:
        statement = statement.where(Source.lease_owner == owner)
    return session.execute(statement.values(lease_owner=None, lease_until=None)).rowcount


def bring_forward(session: Session, latest: Sequence[tuple[int, datetime]]) -> int:
    """Due times no later than ``latest`` per source: a shortened interval applies at once."""
    if not latest:
        return 0
    statement = (
        update(_SOURCES)
        .where(
            _SOURCES.c.id == bindparam("sid"),
            _SOURCES.c.next_poll_at > bindparam("latest"),
            _SOURCES.c.consecutive_failures == 0,
        )
        .values(next_poll_at=bindparam("latest"))
    )
    result = session.connection().execute(
        statement, [{"sid": sid, "latest": at} for sid, at in latest]
    )
    return result.rowcount
