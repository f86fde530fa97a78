"""Several `newsmon daemon` processes on one PostgreSQL: each feed polled once per interval,
nothing stored or alerted twice, and a SIGKILLed worker's sources taken over within its lease."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from monitor.demo.server import Route, SiteServer
from tests.alerting import NICKEL, TOPICS, slack_alerts
from tests.conftest import article_html, filler, rss, write_config
from tests.processes import newsmon, start_daemon, wait_until

pytestmark = pytest.mark.slow


class Newsroom:
    """Feeds on a local server: each with its own story and one story syndicated by ten feeds."""

    def __init__(self, site: SiteServer, feeds: int, *, page_delay: float = 0.0) -> None:
        self.site = site
        self.page_delay = page_delay
        self.items: dict[int, list[dict[str, str]]] = defaultdict(list)
        self.stories: set[str] = set()
        for feed in range(feeds):
            self.site.routes[f"/f{feed}.xml"] = Route(
                body=lambda f=feed: rss(self.items[f]),
                headers={"Content-Type": "application/rss+xml"},
            )
            self.add(feed, f"own{feed}", f"Cathode plant number {feed} breaks ground in Sulawesi")
            self.add(feed, f"wire{feed % 30}", f"Nickel wire story {feed % 30} moves markets today")

    def add(self, feed: int, slug: str, title: str) -> None:
        path = f"/story/{slug}.html"
        if path not in self.site.routes:
            body = article_html(title, filler(f"{NICKEL} Report {slug} says more."))
            self.site.routes[path] = Route(body=body, delay=self.page_delay)
            self.stories.add(title)
        self.items[feed].insert(0, {"title": title, "link": self.site.url(path.lstrip("/")),
                                    "guid": slug})  # fmt: skip


def engine_for(url: str):
    return create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


def rows(url: str, sql: str, **params: Any) -> list[Any]:
    engine = engine_for(url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(sql), params))
    finally:
        engine.dispose()


def count(url: str, sql: str, **params: Any) -> int:
    """A count that is 0 while the workers are still creating the schema."""
    from sqlalchemy.exc import ProgrammingError

    try:
        return int(rows(url, sql, **params)[0][0])
    except ProgrammingError:
        return 0


def stop_all(workers: list[subprocess.Popen[str]]) -> list[str]:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    outputs = [worker.communicate(timeout=90)[0] for worker in workers]
    return outputs


def assert_stored_and_alerted_once(url: str, newsroom: Newsroom, slack) -> None:
    titles = [title for (title,) in rows(url, "SELECT title FROM articles")]
    assert sorted(titles) == sorted(newsroom.stories)  # each story stored exactly once
    links = rows(url, "SELECT a.title, count(*) FROM article_sources s "
                      "JOIN articles a ON a.id = s.article_id GROUP BY a.title")  # fmt: skip
    carried = Counter(item["title"] for items in newsroom.items.values() for item in items)
    assert dict(links) == dict(carried)  # every outlet of a syndicated story is recorded
    assert wait_until(lambda: len(slack.accepted) >= len(newsroom.stories), timeout=60)
    time.sleep(1.0)  # anything sent twice would arrive now
    headlines = [post["blocks"][0]["text"]["text"] for post in slack.accepted]
    assert len(headlines) == len(set(headlines)) == len(newsroom.stories)


def test_three_workers_share_300_feeds_polling_each_once_per_interval(
    tmp_path, site, slack, pg_url
):
    newsroom = Newsroom(site, 300)
    intervals = {f"f{i}": 12.0 if i % 2 else 18.0 for i in range(300)}
    config = write_config(
        tmp_path, storage={"url": pg_url}, topics=TOPICS, alerts=slack_alerts(slack.url),
        schedule={"min_interval": 1, "jitter": 0.1},
        sources=[{"name": name, "url": site.url(f"{name}.xml"), "interval": interval}
                 for name, interval in intervals.items()],
        daemon={"lease": 30, "max_polls": 200},
    )  # fmt: skip
    workers = [start_daemon(config) for _ in range(3)]
    try:
        assert wait_until(
            lambda: count(pg_url, "SELECT count(*) FROM articles") == 330, timeout=120
        ), "the first round did not store every story"
        warm = datetime.now(UTC)
        for feed in range(0, 300, 5):  # news breaks while the workers run
            newsroom.add(
                feed, f"late{feed // 10}", f"Battery recycling deal {feed // 10} is signed"
            )
        status = json.loads(newsmon("status", "--json", "--config", str(config)).stdout)
        time.sleep(40)
        end = datetime.now(UTC)
    finally:
        outputs = stop_all(workers)
    for worker, output in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, output[-3000:]
        assert "Traceback" not in output, output[-3000:]
    assert len(status["workers"]) == 3

    polls: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for name, started, finished in rows(
        pg_url, "SELECT s.name, p.started_at, p.finished_at FROM poll_runs p "
                "JOIN sources s ON s.id = p.source_id ORDER BY p.started_at"
    ):  # fmt: skip
        polls[name].append((started.replace(tzinfo=UTC), finished.replace(tzinfo=UTC)))
    assert set(polls) == set(intervals)
    for name, runs in polls.items():
        interval = intervals[name]
        starts = [started for started, _ in runs]
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
        # never twice within an interval (jitter is ±10%) and never two polls at once
        assert min(gaps) >= 0.85 * interval, (name, gaps)
        assert all(runs[i][1] <= runs[i + 1][0] for i in range(len(runs) - 1)), name
        # and never skipped once the first round is done: a skipped interval leaves a gap of
        # two intervals; anything shorter is a poll running late on this shared 2-core machine
        steady = [s for s in starts if warm - timedelta(seconds=interval) <= s <= end]
        marks = [warm - timedelta(seconds=interval), *steady, end]
        longest = max((b - a).total_seconds() for a, b in itertools.pairwise(marks))
        assert longest < 2 * interval, (name, [s.isoformat() for s in steady])
    assert_stored_and_alerted_once(pg_url, newsroom, slack)


def test_a_worker_killed_mid_poll_loses_its_sources_to_the_others_within_the_lease(
    tmp_path, site, slack, pg_url
):
    newsroom = Newsroom(site, 60, page_delay=0.3)  # slow pages: the kill lands mid-poll
    lease = 4.0
    config = write_config(
        tmp_path, storage={"url": pg_url}, topics=TOPICS, alerts=slack_alerts(slack.url),
        schedule={"min_interval": 1},
        sources=[{"name": f"f{i}", "url": site.url(f"f{i}.xml"), "interval": 3600}
                 for i in range(60)],
        daemon={"lease": lease, "max_polls": 10},
        fetch={"download_delay": 0, "autothrottle": False, "concurrent_per_domain": 4,
               "timeout": 10, "retries": 0, "extract_processes": 1},
    )  # fmt: skip
    newsmon("db", "upgrade", "--config", str(config))
    workers = [start_daemon(config) for _ in range(3)]
    victim = workers[0]
    mine = f"%:{victim.pid}:%"
    try:
        # Kill while it holds sources mid-poll, but with no alert on the wire (a kill between
        # Slack's "ok" and the commit re-sends that alert: the documented at-least-once window).
        assert wait_until(
            lambda: rows(pg_url, "SELECT count(*) FROM sources WHERE lease_owner LIKE :me",
                         me=mine)[0][0] > 0
            and rows(pg_url, "SELECT count(*) FROM article_sources")[0][0] > 0
            and rows(pg_url, "SELECT count(*) FROM alerts WHERE lease_owner LIKE :me",
                     me=f"%:{victim.pid}")[0][0] == 0,
            timeout=60,
        ), "the victim never held a source mid-poll"  # fmt: skip
        victim.send_signal(signal.SIGKILL)
        victim.communicate(timeout=30)  # EOF: its extraction processes left with it
        killed_at = datetime.now(UTC)
        orphans = {name for (name,) in rows(
            pg_url, "SELECT name FROM sources WHERE lease_owner LIKE :me", me=mine)}  # fmt: skip
        assert orphans
        assert wait_until(
            lambda: rows(pg_url, "SELECT count(DISTINCT source_id) FROM poll_runs "
                                 "WHERE status = 'ok'")[0][0] == 60,
            timeout=90,
        ), "some sources were never polled after the kill"  # fmt: skip
        assert_stored_and_alerted_once(pg_url, newsroom, slack)
    finally:
        outputs = stop_all(workers)
    for worker, output in zip(workers[1:], outputs[1:], strict=True):
        assert worker.returncode == 0, output[-3000:]
    taken_over = rows(
        pg_url, "SELECT s.name, min(p.started_at) FROM poll_runs p JOIN sources s "
                "ON s.id = p.source_id WHERE s.name = ANY(:names) GROUP BY s.name",
        names=sorted(orphans),
    )  # fmt: skip
    assert {name for name, _ in taken_over} == orphans
    for name, started in taken_over:  # picked up once the lease ran out, not an interval later
        waited = (started.replace(tzinfo=UTC) - killed_at).total_seconds()
        assert waited <= lease + 5.0, (name, waited)
    assert rows(pg_url, "SELECT count(*) FROM sources WHERE lease_owner IS NOT NULL")[0][0] == 0
