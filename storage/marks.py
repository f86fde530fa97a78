"""Small durable facts about periodic work: the last digest of a route, the daemon's heartbeat."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import JobMark


def get_mark(session: Session, name: str) -> JobMark | None:
    return session.get(JobMark, name)


def set_mark(
    session: Session, name: str, at: datetime, value: dict[str, Any] | None = None
) -> None:
    mark = session.get(JobMark, name)
    if mark is None:
        session.add(JobMark(name=name, at=at, value=value))
    else:
        mark.at, mark.value = at, value


def delete_mark(session: Session, name: str) -> None:
    mark = session.get(JobMark, name)
    if mark is not None:
        session.delete(mark)


def marks_named(session: Session, prefix: str) -> list[JobMark]:
    """Every mark whose name starts with ``prefix`` (e.g. each worker's heartbeat)."""
    return list(
        session.execute(
            select(JobMark).where(JobMark.name.startswith(prefix, autoescape=True))
        ).scalars()
    )
