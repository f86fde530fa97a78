"""The alert outbox and digest queue: owe, claim, settle — each an idempotent statement.

Owing uses ``INSERT … ON CONFLICT DO NOTHING`` on a unique key, so a story
reached twice, a replayed digest or a racing second daemon owes nothing twice.
Claiming sets a lease (owner + expiry) instead of a status, so an alert whose
dispatcher died is simply due again when the lease runs out; on PostgreSQL the
claim uses ``FOR UPDATE SKIP LOCKED`` so several dispatchers split the work.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import (
    Alert,
    Article,
    ArticleSource,
    DigestItem,
    Source,
    Tag,
)

PENDING, SENT, DEAD = "pending", "sent", "dead"
STATUSES = (PENDING, SENT, DEAD)


def _insert_ignoring_duplicates(session: Session, table: Any, values: dict[str, Any]) -> bool:
    dialect = session.get_bind().dialect.name
    builder = postgresql.insert if dialect == "postgresql" else sqlite.insert
    result = session.execute(builder(table).values(**values).on_conflict_do_nothing())
    return bool(result.rowcount)


def owe_alert(
    session: Session,
    *,
    dedup_key: str,
    route: str,
    channel: str,
    kind: str,
    now: datetime,
    story_id: int | None = None,
    article_id: int | None = None,
    payload: dict[str, Any] | None = None,
) -> bool:
    """Write an owed alert; False if one with this key is already owed (or sent)."""
    return _insert_ignoring_duplicates(
        session,
        Alert,
        {
            "dedup_key": dedup_key[:300], "route": route, "channel": channel, "kind": kind,
            "story_id": story_id, "article_id": article_id, "payload": payload,
            "status": PENDING, "attempts": 0, "parts_sent": 0, "created_at": now,
            "next_attempt_at": now,
        },
    )  # fmt: skip


def queue_for_digest(
    session: Session,
    *,
    route: str,
    story_id: int,
    article_id: int | None,
    reason: str,
    now: datetime,
) -> bool:
    return _insert_ignoring_duplicates(
        session,
        DigestItem,
        {"route": route, "story_id": story_id, "article_id": article_id, "reason": reason,
         "created_at": now, "digest_key": None},
    )  # fmt: skip


def story_owed(session: Session, route: str, story_id: int) -> bool:
    """Whether ``route`` already owes (or sent, or queued) anything about this story."""
    alert = select(Alert.id).where(Alert.route == route, Alert.story_id == story_id).limit(1)
    if session.execute(alert).first() is not None:
        return True
    item = select(DigestItem.id).where(DigestItem.route == route, DigestItem.story_id == story_id)
    return session.execute(item.limit(1)).first() is not None


def stories_alerted_since(session: Session, route: str, since: datetime) -> int:
    """Immediate stories a route owed since ``since``: what an hourly cap counts."""
    query = select(func.count(func.distinct(Alert.story_id))).where(
        Alert.route == route, Alert.kind == "immediate", Alert.created_at >= since
    )
    return int(session.execute(query).scalar_one())


def take_digest_items(
    session: Session, route: str, digest_key: str
) -> list[tuple[int, int | None]]:
    """Mark every waiting item of ``route`` as part of ``digest_key``; (story, article) pairs."""
    waiting = session.execute(
        select(DigestItem.id, DigestItem.story_id, DigestItem.article_id)
        .where(DigestItem.route == route, DigestItem.digest_key.is_(None))
        .order_by(DigestItem.id)
    ).all()
    if waiting:
        session.execute(
            update(DigestItem)
            .where(DigestItem.id.in_([row.id for row in waiting]))
            .values(digest_key=digest_key[:300])
        )
    return [(row.story_id, row.article_id) for row in waiting]


def waiting_stories(session: Session, route: str) -> list[tuple[int, int | None]]:
    """(story, article) pairs that ``route``'s next digest will hold, oldest first."""
    rows = session.execute(
        select(DigestItem.story_id, DigestItem.article_id)
        .where(DigestItem.route == route, DigestItem.digest_key.is_(None))
        .order_by(DigestItem.id)
    ).all()
    return [(row.story_id, row.article_id) for row in rows]


def waiting_digest_items(session: Session, route: str | None = None) -> int:
    query = select(func.count()).select_from(DigestItem).where(DigestItem.digest_key.is_(None))
    if route:
        query = query.where(DigestItem.route == route)
    return int(session.execute(query).scalar_one())


# --- dispatching -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimedAlert:
    id: int
    dedup_key: str
    route: str
    channel: str
    kind: str
    story_id: int | None
    article_id: int | None
    payload: dict[str, Any] | None
    attempts: int
    parts_sent: int
    created_at: datetime


def claim_due(
    session: Session,
    *,
    owner: str,
    now: datetime,
    lease_until: datetime,
    limit: int,
    channels: Iterable[str] | None = None,
) -> list[ClaimedAlert]:
    """Lease up to ``limit`` due alerts to ``owner``, oldest first."""
    query = (
        select(Alert)
        .where(
            Alert.status == PENDING,
            Alert.next_attempt_at <= now,
            or_(Alert.lease_until.is_(None), Alert.lease_until < now),
        )
        .order_by(Alert.next_attempt_at, Alert.id)
        .limit(limit)
    )
    if channels is not None:
        query = query.where(Alert.channel.in_(list(channels)))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = session.execute(query).scalars().all()
    if not rows:
        return []
    session.execute(
        update(Alert)
        .where(Alert.id.in_([row.id for row in rows]))
        .values(lease_owner=owner, lease_until=lease_until)
    )
    return [
        ClaimedAlert(
            id=row.id, dedup_key=row.dedup_key, route=row.route, channel=row.channel,
            kind=row.kind, story_id=row.story_id, article_id=row.article_id,
            payload=row.payload, attempts=row.attempts, parts_sent=row.parts_sent,
            created_at=row.created_at,
        )
        for row in rows
    ]  # fmt: skip


# Prebuilt Core statements on the table (not the ORM entity): one runs per alert sent,
# and the ORM's bulk-update path costs more than SQLite takes to do the work.
_ALERTS = Alert.__table__
_OWNED = and_(
    _ALERTS.c.id == bindparam("alert_id"),
    _ALERTS.c.lease_owner == bindparam("owner"),
    _ALERTS.c.status == PENDING,
)
_SAVE_PAYLOAD = update(_ALERTS).where(_OWNED).values(payload=bindparam("payload"))
_PART_SENT = update(_ALERTS).where(_OWNED).values(parts_sent=bindparam("parts"))
_SENT = (
    update(_ALERTS)
    .where(_OWNED)
    .values(
        status=SENT, sent_at=bindparam("now"), parts_sent=bindparam("parts"),
        attempts=_ALERTS.c.attempts + 1, lease_owner=None, lease_until=None, last_error=None,
    )
)  # fmt: skip
_RETRY = (
    update(_ALERTS)
    .where(_OWNED)
    .values(
        attempts=_ALERTS.c.attempts + 1, last_error=bindparam("error"),
        next_attempt_at=bindparam("retry_at"), lease_owner=None, lease_until=None,
    )
)  # fmt: skip
_DEAD = (
    update(_ALERTS)
    .where(_OWNED)
    .values(
        status=DEAD, attempts=_ALERTS.c.attempts + 1, last_error=bindparam("error"),
        lease_owner=None, lease_until=None,
    )
)  # fmt: skip


def save_payloads(session: Session, owner: str, payloads: dict[int, dict[str, Any]]) -> None:
    """Store the rendered messages of claimed alerts (one statement for the batch)."""
    if payloads:
        session.connection().execute(
            _SAVE_PAYLOAD,
            [{"alert_id": i, "owner": owner, "payload": p} for i, p in payloads.items()],
        )


def record_part_sent(session: Session, alert_id: int, owner: str, parts_sent: int) -> None:
    session.connection().execute(
        _PART_SENT, {"alert_id": alert_id, "owner": owner, "parts": parts_sent}
    )


def record_sent(session: Session, alert_id: int, owner: str, now: datetime, parts: int) -> bool:
    """False when the lease was lost (another dispatcher took over): nothing is changed."""
    result = session.connection().execute(
        _SENT, {"alert_id": alert_id, "owner": owner, "now": now, "parts": parts}
    )
    return bool(result.rowcount)


def record_failure(
    session: Session, alert_id: int, owner: str, *, error: str, retry_at: datetime | None
) -> None:
    """Count a failed attempt: due again at ``retry_at``, or dead when it is None."""
    values = {"alert_id": alert_id, "owner": owner, "error": error[:2000]}
    if retry_at is None:
        session.connection().execute(_DEAD, values)
    else:
        session.connection().execute(_RETRY, {**values, "retry_at": retry_at})


def postpone(session: Session, alert_ids: Sequence[int], owner: str, until: datetime) -> None:
    """Give back claimed alerts untried (their channel is down): no attempt is counted."""
    if alert_ids:
        session.execute(
            update(Alert)
            .where(Alert.id.in_(list(alert_ids)), Alert.lease_owner == owner)
            .values(next_attempt_at=until, lease_owner=None, lease_until=None)
        )


def release_leases(session: Session, owner_prefix: str | None = None) -> int:
    """Forget leases of dispatchers that are gone (SQLite: there is only ever one daemon)."""
    query = update(Alert).where(Alert.status == PENDING, Alert.lease_owner.is_not(None))
    if owner_prefix:
        query = query.where(Alert.lease_owner.like(owner_prefix + "%"))
    return int(session.execute(query.values(lease_owner=None, lease_until=None)).rowcount)


# --- operator commands -------------------------------------------------------------------------


def list_alerts(
    session: Session, *, status: str | None = None, route: str | None = None, limit: int = 50
) -> list[Alert]:
    query = select(Alert).order_by(Alert.id.desc()).limit(limit)
    if status:
        query = query.where(Alert.status == status)
    if route:
        query = query.where(Alert.route == route)
    return list(session.execute(query).scalars())


def retry_alerts(
    session: Session, *, now: datetime, ids: Sequence[int] = (), dead: bool = False
) -> int:
    """Make dead (or failing) alerts due now with a fresh attempt budget; sent ones stay sent."""
    conditions = [Alert.status != SENT]
    if ids:
        conditions.append(Alert.id.in_(list(ids)))
    elif dead:
        conditions.append(Alert.status == DEAD)
    else:
        return 0
    result = session.execute(
        update(Alert)
        .where(*conditions)
        .values(status=PENDING, attempts=0, next_attempt_at=now, lease_owner=None, lease_until=None)
    )
    return int(result.rowcount)


def outbox_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(Alert.status, func.count()).group_by(Alert.status)).all()
    counts = dict.fromkeys(STATUSES, 0)
    counts.update({status: int(n) for status, n in rows})
    return counts


# --- what a message says ---------------------------------------------------------------------


@dataclass(frozen=True)
class StoryArticle:
    """One article of a story, with the outlets that carried it and its tags."""

    id: int
    story_id: int
    title: str
    url: str
    summary: str
    text_start: str
    published_at: datetime | None
    fetched_at: datetime
    language: str | None
    outlets: tuple[tuple[str, str], ...]
    tags: tuple[tuple[str, float, dict[str, Any]], ...]


def story_articles(session: Session, story_ids: Sequence[int]) -> dict[int, list[StoryArticle]]:
    """story id → its articles, earliest first, each with (outlet name, url) pairs and tags."""
    if not story_ids:
        return {}
    text_start = func.substr(Article.text, 1, 600)
    articles = session.execute(
        select(
            Article.id, Article.story_id, Article.title, Article.canonical_url, Article.summary,
            text_start, Article.published_at, Article.fetched_at, Article.language,
        )
        .where(Article.story_id.in_(list(story_ids)))
        .order_by(Article.fetched_at, Article.id)
    ).all()  # fmt: skip
    ids = [row.id for row in articles]
    outlets: dict[int, list[tuple[str, str]]] = {}
    for article_id, name, url in session.execute(
        select(ArticleSource.article_id, Source.name, ArticleSource.url)
        .join(Source, Source.id == ArticleSource.source_id)
        .where(ArticleSource.article_id.in_(ids))
        .order_by(ArticleSource.first_seen_at, Source.name)
    ):
        outlets.setdefault(article_id, []).append((name, url))
    tags: dict[int, list[tuple[str, float, dict[str, Any]]]] = {}
    for article_id, topic, score, explanation in session.execute(
        select(Tag.article_id, Tag.topic, Tag.score, Tag.explanation)
        .where(Tag.article_id.in_(ids))
        .order_by(Tag.score.desc())
    ):
        tags.setdefault(article_id, []).append((topic, score, explanation))
    found: dict[int, list[StoryArticle]] = {}
    for row in articles:
        found.setdefault(row.story_id, []).append(
            StoryArticle(
                id=row.id, story_id=row.story_id, title=row.title, url=row.canonical_url,
                summary=row.summary, text_start=row[5] or "", published_at=row.published_at,
                fetched_at=row.fetched_at, language=row.language,
                outlets=tuple(outlets.get(row.id, ())), tags=tuple(tags.get(row.id, ())),
            )
        )  # fmt: skip
    return found
