"""What an alert says, independent of the channel that will carry it.

A message is built from the archive when it is first dispatched and then saved
in the outbox row, so every retry (and every part of a split digest) sends the
same words even if the story gained another outlet in between.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from storage.outbox import StoryArticle

SNIPPET_CHARS = 280
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Outlet:
    name: str
    url: str


@dataclass(frozen=True)
class TopicMatch:
    name: str
    score: float
    terms: tuple[str, ...]


@dataclass(frozen=True)
class StoryItem:
    story_id: int
    title: str
    url: str
    published: str | None
    outlets: tuple[Outlet, ...]
    topics: tuple[TopicMatch, ...]
    snippet: str

    @property
    def topic_names(self) -> list[str]:
        return [t.name for t in self.topics]


@dataclass(frozen=True)
class Message:
    """``kind`` is ``story`` (one story now), ``digest`` (several, grouped) or ``test``."""

    kind: str
    route: str
    stories: tuple[StoryItem, ...] = ()
    since: str | None = None
    until: str | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Message:
        stories = tuple(
            StoryItem(
                story_id=s["story_id"], title=s["title"], url=s["url"], published=s["published"],
                outlets=tuple(Outlet(**o) for o in s["outlets"]),
                topics=tuple(
                    TopicMatch(t["name"], t["score"], tuple(t["terms"])) for t in s["topics"]
                ),
                snippet=s["snippet"],
            )
            for s in data.get("stories", [])
        )  # fmt: skip
        return cls(
            kind=data["kind"], route=data["route"], stories=stories, since=data.get("since"),
            until=data.get("until"), note=data.get("note", ""), extra=data.get("extra", {}),
        )  # fmt: skip

    def by_topic(self) -> list[tuple[str, list[StoryItem]]]:
        """Digest sections: each story under its strongest topic, topics in order of size."""
        groups: dict[str, list[StoryItem]] = {}
        for story in self.stories:
            key = story.topics[0].name if story.topics else "other"
            groups.setdefault(key, []).append(story)
        return sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))


def story_item(
    articles: Sequence[StoryArticle],
    *,
    lead_id: int | None = None,
    wanted: Any = None,
) -> StoryItem:
    """One story as an alert shows it: the lead article's words, every outlet that carried it.

    ``wanted(topic, score)`` keeps only the topics that the route asked for.
    """
    lead = next((a for a in articles if a.id == lead_id), None) or articles[0]
    outlets: dict[str, Outlet] = {}
    for article in [lead, *articles]:
        for name, url in article.outlets:
            outlets.setdefault(name, Outlet(name, url))
    topics = []
    for topic, score, explanation in lead.tags:
        if wanted is not None and not wanted(topic, score):
            continue
        terms = distinct_terms(str(hit[4]) for hit in explanation.get("hits", []))
        topics.append(TopicMatch(topic, round(float(score), 2), terms))
    return StoryItem(
        story_id=lead.story_id,
        title=lead.title or lead.url,
        url=lead.url,
        published=iso(lead.published_at or lead.fetched_at),
        outlets=tuple(outlets.values()),
        topics=tuple(topics),
        snippet=snippet(lead.summary or lead.text_start),
    )


def story_message(
    route: str, articles: Sequence[StoryArticle], *, lead_id: int | None, wanted: Any = None
) -> Message | None:
    if not articles:
        return None
    return Message("story", route, (story_item(articles, lead_id=lead_id, wanted=wanted),))


def digest_message(
    route: str,
    pairs: Sequence[Sequence[int | None]],
    articles: dict[int, list[StoryArticle]],
    *,
    wanted: Any = None,
    since: str | None = None,
    until: str | None = None,
) -> Message:
    """``pairs`` are (story id, lead article id); stories gone from the archive are skipped."""
    items = tuple(
        story_item(articles[story_id], lead_id=article_id, wanted=wanted)
        for story_id, article_id in pairs
        if story_id is not None and articles.get(story_id)
    )
    return Message("digest", route, items, since=since, until=until)


def distinct_terms(matched: Iterable[str], limit: int = 6) -> tuple[str, ...]:
    """Matched words as written, each once whatever its case ("TOKYO", "Tokyo" → "TOKYO")."""
    seen: dict[str, str] = {}
    for text in matched:
        seen.setdefault(text.casefold(), text)
    return tuple(seen.values())[:limit]


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    flat = _SPACE.sub(" ", text or "").strip()
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",;:.-") + "…"


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="minutes") if moment else None


def when(value: str | None) -> str:
    """``2026-11-30 08:12 UTC`` for people."""
    if not value:
        return "date unknown"
    moment = datetime.fromisoformat(value)
    return moment.strftime("%Y-%m-%d %H:%M UTC")
