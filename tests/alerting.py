"""Helpers for the alert tests: a controllable clock, feeds of stories, Slack routes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from monitor.demo.server import Route, SiteServer
from monitor.poller import Monitor
from storage.models import Alert
from tests.conftest import article_html, filler, rss

TOPICS = {"ev": {"query": "nickel OR battery OR cathode"}, "eu": {"query": '"European Union"'}}
NICKEL = "The new refinery will process nickel for battery cathodes bound for Japanese carmakers."
START = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # a Monday, 09:00 in Tokyo


class Clock:
    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def serve_feed(
    site: SiteServer, feed: str, stories: list[tuple[str, str, str]], *, day: int = 29
) -> None:
    """Serve ``feed`` listing ``stories`` (slug, title, sentence), each with its article page."""
    items = []
    for slug, title, sentence in stories:
        page = f"{feed.removesuffix('.xml')}/{slug}.html"
        items.append({"title": title, "link": site.url(page), "guid": page,
                      "pubDate": f"Sun, {day} Nov 2026 10:00:00 GMT"})  # fmt: skip
        site.routes["/" + page] = Route(
            body=article_html(title, filler(sentence)),
            headers={"Content-Type": "text/html; charset=utf-8"},
        )
    site.routes["/" + feed] = Route(
        body=rss(items), headers={"Content-Type": "application/rss+xml"}
    )


def slack_alerts(url: str, **route: Any) -> dict[str, Any]:
    return {
        "channels": {"desk": {"type": "slack", "webhook_url": url}},
        "routes": {"ev-now": {"topics": ["ev"], "channels": ["desk"], **route}},
        "dispatch": {"backoff": 10, "max_attempts": 5},
    }


def alert_rows(monitor: Monitor) -> list[Alert]:
    with monitor.archive.reader() as session:
        return list(session.execute(select(Alert).order_by(Alert.id)).scalars())


def section_texts(payload: dict[str, Any]) -> str:
    return "\n".join(b["text"]["text"] for b in payload["blocks"] if b["type"] == "section")
