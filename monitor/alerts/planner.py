"""Deciding, inside the article's own transaction, which alerts a new article owes.

Called by the pipeline for every newly stored article. Story-level dedup lives
here: a route owes at most one alert per story, so a report syndicated to five
outlets is one message that names all five (the dispatcher lists every outlet
the story has by the time it sends).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from monitor.alerts.config import AlertsConfig
from monitor.rules import Tag
from storage.articles import StoredArticle
from storage.outbox import owe_alert, queue_for_digest, stories_alerted_since, story_owed

CAP_WINDOW = timedelta(hours=1)


def story_key(route: str, channel: str, story_id: int) -> str:
    return f"{route}|{channel}|story:{story_id}"


class AlertPlanner:
    """The pipeline hook: routes × tags → owed alerts or digest items, never twice per story."""

    def __init__(self, alerts: AlertsConfig, clock: Callable[[], datetime]) -> None:
        self.alerts = alerts
        self.clock = clock

    def __call__(self, session: Session, stored: StoredArticle, tags: Sequence[Tag]) -> None:
        if not tags:
            return
        now = self.clock()
        for name, route in self.alerts.routes.items():
            if not any(route.wants(tag.topic, tag.score) for tag in tags):
                continue
            if story_owed(session, name, stored.story_id):
                continue
            if route.mode == "digest":
                queue_for_digest(
                    session, route=name, story_id=stored.story_id, article_id=stored.id,
                    reason="digest", now=now,
                )  # fmt: skip
                continue
            cap = route.max_per_hour
            if cap and stories_alerted_since(session, name, now - CAP_WINDOW) >= cap:
                queue_for_digest(
                    session, route=name, story_id=stored.story_id, article_id=stored.id,
                    reason="overflow", now=now,
                )  # fmt: skip
                continue
            for channel in route.channels:
                owe_alert(
                    session, dedup_key=story_key(name, channel, stored.story_id), route=name,
                    channel=channel, kind="immediate", now=now, story_id=stored.story_id,
                    article_id=stored.id,
                )  # fmt: skip
