"""Source rows: kept in step with the config, and their fetch state and health."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import ArticleSource, PollRun, Source


@dataclass(frozen=True)
class SourceDefinition:
    name: str
    url: str
    kind: str
    enabled: bool = True
    adhoc: bool = False


def sync_sources(
    session: Session, definitions: list[SourceDefinition], at: datetime
) -> dict[str, Source]:
    """Insert or update the configured sources; their fetch state survives edits.

    A changed URL or kind resets the validators, since an ETag belongs to a URL.
    """
    existing = {s.name: s for s in session.execute(select(Source)).scalars()}
    result = {}
    for definition in definitions:
        source = existing.get(definition.name)
        if source is None:
            source = Source(
                name=definition.name,
                url=definition.url,
                kind=definition.kind,
                enabled=definition.enabled,
                adhoc=definition.adhoc,
                created_at=at,
                consecutive_failures=0,
            )
            session.add(source)
        else:
            if (source.url, source.kind) != (definition.url, definition.kind):
                source.etag = source.last_modified = None
            source.url, source.kind = definition.url, definition.kind
            source.adhoc = definition.adhoc
            if not definition.enabled:
                source.enabled = False
        result[definition.name] = source
    session.flush()
    return result


def record_poll(session: Session, source: Source, outcome: Any, at: datetime) -> PollRun:
    """Fold one poll outcome into the source's state and its history."""
    source.last_polled_at = at
    if outcome.status == "failed":
        source.consecutive_failures = (source.consecutive_failures or 0) + 1
        source.last_error = outcome.error
        source.last_error_at = at
    else:
        source.consecutive_failures = 0
        source.last_success_at = at
        source.etag = outcome.etag
        source.last_modified = outcome.last_modified
    run = PollRun(
        source_id=source.id,
        started_at=outcome.started_at or at,
        finished_at=outcome.finished_at or at,
        status=outcome.status,
        http_status=outcome.http_status,
        entries=outcome.entries,
        new=outcome.new,
        failed=outcome.failed_articles,
        error=outcome.error,
    )
    session.add(run)
    return run


@dataclass(frozen=True)
class SourceHealth:
    name: str
    url: str
    kind: str
    enabled: bool
    last_success_at: datetime | None
    last_polled_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    consecutive_failures: int
    articles: int


def source_health(session: Session) -> list[SourceHealth]:
    counts = dict(
        session.execute(
            select(ArticleSource.source_id, func.count()).group_by(ArticleSource.source_id)
        ).all()
    )
    rows = session.execute(select(Source).order_by(Source.name)).scalars()
    return [
        SourceHealth(
            name=s.name,
            url=s.url,
            kind=s.kind,
            enabled=s.enabled,
            last_success_at=s.last_success_at,
            last_polled_at=s.last_polled_at,
            last_error=s.last_error,
            last_error_at=s.last_error_at,
            consecutive_failures=s.consecutive_failures or 0,
            articles=counts.get(s.id, 0),
        )
        for s in rows
    ]
