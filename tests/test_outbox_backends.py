"""The outbox on both backends: owing is idempotent and two dispatchers never share an alert."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from monitor.config import load_config
from monitor.poller import Monitor
from storage.db import Archive
from storage.models import Alert, Story
from storage.outbox import claim_due, owe_alert, record_sent
from storage.search import SearchRequest, count_matches, search_page
from tests.alerting import NICKEL, TOPICS, Clock, serve_feed, slack_alerts
from tests.conftest import poll, write_config


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'outbox.db'}"
    else:
        yield request.getfixturevalue("pg_url")


def test_owing_twice_is_one_row_and_claims_never_overlap(database_url):
    archive = Archive(database_url)
    now = datetime.now(UTC)
    try:
        with archive.session() as session:
            stories = [Story(title_key=f"k{i}", first_seen_at=now) for i in range(6)]
            session.add_all(stories)
            session.flush()
            for story in stories:
                for _ in range(2):
                    owe_alert(session, dedup_key=f"r|c|story:{story.id}", route="r", channel="c",
                              kind="immediate", now=now, story_id=story.id)  # fmt: skip
        lease = now + timedelta(minutes=5)
        with archive.session() as first:
            mine = claim_due(first, owner="a", now=now, lease_until=lease, limit=4)
            if archive.is_sqlite:
                theirs = []  # SQLite: one writer at a time; the second claimer waits instead
            else:
                with archive.session() as second:  # while the first still holds its row locks
                    theirs = claim_due(second, owner="b", now=now, lease_until=lease, limit=10)
        with archive.session() as session:
            after = claim_due(session, owner="c", now=now, lease_until=lease, limit=10)
            assert record_sent(session, mine[0].id, "a", now, 1)
            assert not record_sent(session, mine[1].id, "someone-else", now, 1)
        assert len(mine) == 4
        ids = [a.id for a in mine + theirs + after]
        assert len(ids) == len(set(ids)) == 6
        with archive.reader() as session:
            assert len(session.execute(select(Alert)).scalars().all()) == 6
    finally:
        archive.close()


def test_poll_to_slack_end_to_end(database_url, tmp_path, site, slack):
    serve_feed(site, "wire.xml", [("deal", "Nickel refinery deal signed", NICKEL)])
    path = write_config(
        tmp_path, sources=[{"name": "Wire", "url": site.url("wire.xml")}], topics=TOPICS,
        alerts=slack_alerts(slack.url), storage={"url": database_url},
    )  # fmt: skip
    monitor = Monitor(load_config(path), clock=Clock())
    try:
        monitor.sync_sources()
        poll(monitor)
        poll(monitor)
        assert monitor.alerts.deliver_now().sent == 1
        assert monitor.alerts.deliver_now().sent == 0
        with monitor.archive.reader() as session:  # and the archive answers searches
            found = search_page(session, SearchRequest(query='refinery AND "Japanese carmakers"'))
            none = search_page(session, SearchRequest(query="refinery NOT nickel"))
            counted = count_matches(session, SearchRequest(query="nick*"))
    finally:
        monitor.close()
    assert len(slack.accepted) == 1
    assert [r.title for r in found.rows] == ["Nickel refinery deal signed"]
    assert "\ue000" in found.rows[0].snippet and none.rows == [] and counted == 1
