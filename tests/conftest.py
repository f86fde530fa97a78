"""Shared fixtures: a real local news server, configs written as YAML, an opened archive."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.config import Config, load_config
from monitor.demo.server import SiteServer
from monitor.demo.webhook import WebhookReceiver
from monitor.poller import Monitor, PollReport
from spiders.middlewares import clear_robots_cache
from storage.articles import NewArticle, insert_article
from storage.db import Archive
from tests import reactor
from tests.mailserver import MailServer
from tests.processes import newsmon

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
FAST_FETCH = {
    "download_delay": 0,
    "autothrottle": False,
    "concurrent_per_domain": 8,
    "timeout": 5,
    "retries": 0,
    "obey_robots": True,
    "extract_processes": 1,
}


@pytest.fixture
def site() -> Iterator[SiteServer]:
    """A real HTTP server on 127.0.0.1; tests script its routes.

    robots.txt answers are cached per host:port for an hour; the port of an
    earlier test's server can come back, so the cache starts empty each time.
    """
    clear_robots_cache()
    with SiteServer() as server:
        yield server


def write_config(tmp_path: Path, **sections: Any) -> Path:
    data = {"storage": {"url": f"sqlite:///{tmp_path / 'archive.db'}"}, "fetch": FAST_FETCH}
    data.update(sections)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The archive a test's Monitor writes to: such tests run on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'archive.db'}"
        return
    if request.node.get_closest_marker("sqlite_only"):
        pytest.skip("tests SQLite's own behaviour (its file, locks and disk)")
    yield from _pg_schema()


@pytest.fixture
def make_monitor(tmp_path: Path, storage_url: str) -> Iterator[Any]:
    """Build a Monitor from config sections written to a real YAML file."""
    made: list[Monitor] = []

    def factory(**sections: Any) -> Monitor:
        sections = {"storage": {"url": storage_url}, **sections}
        config = load_config(write_config(tmp_path, **sections))
        monitor = Monitor(config)
        monitor.sync_sources()
        made.append(monitor)
        return monitor

    yield factory
    for monitor in made:
        monitor.close()


def poll(monitor: Monitor, names: list[str] | None = None) -> dict[str, PollReport]:
    reports = reactor.run(lambda: monitor.poll(names))
    return {r.name: r for r in reports}


def rss(items: list[dict[str, str]], *, title: str = "Test feed") -> bytes:
    """A small RSS 2.0 document; items take title, link, guid, description, pubDate."""
    body = "".join(
        "<item>" + "".join(f"<{k}>{v}</{k}>" for k, v in item.items()) + "</item>" for item in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{title}</title><link>http://example.org/</link><description>t</description>"
        f"{body}</channel></rss>"
    ).encode()


def article_html(
    title: str, paragraphs: list[str], *, canonical: str | None = None, lang: str = "en"
) -> bytes:
    link = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    nav = '<a href="/">Home</a> <a href="/world">World</a> <a href="/business">Business</a>'
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        f'<title>{title}</title>{link}<meta name="author" content="Test Writer"></head>'
        f"<body><header><nav>{nav}</nav></header>"
        f"<main><article><h1>{title}</h1>{body}</article></main>"
        "<footer><p>Copyright Example News. All rights reserved.</p></footer></body></html>"
    ).encode()


def filler(topic_sentence: str, n: int = 4) -> list[str]:
    """Paragraphs long enough for extraction, around one sentence that carries the topic."""
    extra = (
        "Officials described the plans in detail at a briefing on Tuesday, adding that further "
        "announcements would follow over the coming weeks as negotiations with partners continue."
    )
    return [topic_sentence] + [f"{extra} Point {i} of the statement was noted." for i in range(n)]


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test (skips when NEWSMON_TEST_PG_URL is unset)."""
    yield from _pg_schema()


@pytest.fixture(scope="module")
def pg_module_url() -> Iterator[str]:
    """A PostgreSQL schema shared by one test module's tests."""
    yield from _pg_schema()


def _pg_schema() -> Iterator[str]:
    base = os.environ.get("NEWSMON_TEST_PG_URL")
    if not base:
        pytest.skip("NEWSMON_TEST_PG_URL is not set (PostgreSQL tests need a server)")
    import sqlalchemy as sa

    schema = "t_" + uuid.uuid4().hex[:12]
    engine = sa.create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options=-csearch_path%3D{schema}"
    with engine.begin() as connection:
        connection.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


@pytest.fixture
def slack() -> Iterator[WebhookReceiver]:
    """A real HTTP endpoint that answers like a Slack incoming webhook."""
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def smtp() -> Iterator[MailServer]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1."""
    with MailServer() as server:
        yield server


@pytest.fixture
def build(tmp_path: Path, storage_url: str) -> Iterator[Any]:
    """A Monitor with alert routes and a controllable clock, from a real YAML config."""
    from tests.alerting import TOPICS

    made: list[Monitor] = []

    def factory(sources: list[dict[str, Any]], alerts: dict[str, Any], clock: Any) -> Monitor:
        path = write_config(tmp_path, sources=sources, topics=TOPICS, alerts=alerts,
                            storage={"url": storage_url})  # fmt: skip
        monitor = Monitor(load_config(path), clock=clock)
        monitor.sync_sources()
        monitor.alerts.start()
        made.append(monitor)
        return monitor

    yield factory
    for monitor in made:
        monitor.close()


HOSTILE_TITLE = "<script>alert('x')</script> Nickel talks & <b>quokka</b> tariffs"


@pytest.fixture(scope="session")
def demo_url(tmp_path_factory) -> str:
    """The demo archive, plus one article whose title and text are hostile HTML."""
    url = f"sqlite:///{tmp_path_factory.mktemp('web') / 'demo.db'}"
    newsmon("demo", "--db", url)
    archive = Archive(url)
    now = datetime.now(UTC)
    with archive.session() as session:
        insert_article(
            session,
            NewArticle(
                canonical_url="http://127.0.0.1/hostile.html", title=HOSTILE_TITLE,
                text="Nickel <img src=x onerror=alert(1)> prices rose.\nSecond paragraph.",
                summary="", author=None, language="en", published_at=now, fetched_at=now,
                extraction="full", extraction_note=None, content_hash="hostile", title_key="hostile",
            ),
            urls=["http://127.0.0.1/hostile.html"], source_id=1,
            source_url="http://127.0.0.1/hostile.html",
            tags=[("ev_supply_chain", 3.0, {"hits": [["nickel", "text", 0, 6, "Nickel"]]})],
        )  # fmt: skip
    archive.close()
    return url


__all__ = ["SHARED", "Config", "article_html", "filler", "poll", "rss", "write_config"]
