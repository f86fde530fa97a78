"""What lets several daemons share one database: source leases, database-enforced uniqueness,
once-per-cluster locks. Run on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from monitor.pipeline import ArchiveSink
from monitor.rules import compile_rules
from spiders.items import Entry, FetchedArticle
from storage.cluster import cluster_lock
from storage.db import Archive
from storage.models import Article, ArticleSource, ArticleUrl, Source, Story
from storage.source_claims import claim_due_sources, release_sources, renew_leases
from storage.sources import SourceDefinition, sync_sources
from tests.alerting import NICKEL, TOPICS
from tests.conftest import Config


@pytest.fixture(params=["sqlite", "postgresql"])
def archive(request, tmp_path) -> Iterator[Archive]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cluster.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    opened = Archive(url)
    yield opened
    opened.close()


def add_sources(archive: Archive, count: int, now: datetime) -> list[int]:
    with archive.session() as session:
        rows = [Source(name=f"s{i}", url=f"http://127.0.0.1/{i}.xml", kind="feed", enabled=True,
                       paused=False, adhoc=False, created_at=now, consecutive_failures=0)
                for i in range(count)]  # fmt: skip
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def test_claims_are_disjoint_expire_and_come_back_due(archive):
    now = datetime.now(UTC)
    ids = add_sources(archive, 10, now)
    lease = now + timedelta(seconds=30)
    with archive.session() as first:
        mine = claim_due_sources(first, owner="a", now=now, lease_until=lease, limit=4)
        if archive.is_sqlite:
            theirs = []  # one writer at a time: the second claimer would wait, not overlap
        else:
            with archive.session() as second:  # while the first still holds its row locks
                theirs = claim_due_sources(second, owner="b", now=now, lease_until=lease, limit=4)
    with archive.session() as session:
        rest = claim_due_sources(session, owner="c", now=now, lease_until=lease, limit=100)
        again = claim_due_sources(session, owner="d", now=now, lease_until=lease, limit=100)
    claimed = [c.id for c in mine + theirs + rest]
    assert len(mine) == 4 and sorted(claimed) == sorted(ids) and again == []
    if not archive.is_sqlite:
        assert len(theirs) == 4

    # a: polled and handed back, due in a minute; c: died holding its leases
    with archive.session() as session:
        assert (
            release_sources(session, "a", [(c.id, now + timedelta(minutes=1)) for c in mine]) == 4
        )
        assert renew_leases(session, "b", [c.id for c in mine], now + timedelta(hours=1)) == 0
    later = now + timedelta(seconds=31)  # c's leases have run out, a's sources are not due yet
    with archive.session() as session:
        hour = later + timedelta(hours=1)
        taken_over = claim_due_sources(session, owner="d", now=later, lease_until=hour, limit=100)
    assert {c.id for c in taken_over} == {c.id for c in theirs + rest}
    with archive.session() as session:  # c wakes up: its release must not undo d's lease
        assert release_sources(session, "c", [(c.id, later) for c in rest]) == 0
        owners = dict(session.execute(select(Source.id, Source.lease_owner)).all())
    assert {owners[c.id] for c in rest} == {"d"}
    due = now + timedelta(minutes=1, seconds=1)
    with archive.session() as session:
        back = claim_due_sources(session, owner="e", now=due, lease_until=due, limit=100)
    assert sorted(c.id for c in back) == sorted(c.id for c in mine)


def fetched(source_id: int, url: str, title: str, text: str) -> FetchedArticle:
    return FetchedArticle(
        source_id=source_id, entry=Entry(url=url, title=title), url=url, title=title, text=text,
        extraction="full",
    )  # fmt: skip


def test_two_workers_storing_one_article_at_once_store_it_once(archive):
    """The first writer holds its transaction open; the second must wait, then link its copy."""
    if archive.is_sqlite:
        pytest.skip("SQLite has one writer at a time: there is no race to lose")
    now = datetime.now(UTC)
    first_source, second_source, third_source = add_sources(archive, 3, now)
    classifier = compile_rules(Config.model_validate({"topics": TOPICS}).topics)
    inside, release = threading.Event(), threading.Event()

    def hold(_session, _stored, _tags) -> None:
        inside.set()
        assert release.wait(30)

    other = Archive(archive.url)  # a second process would have its own engine
    slow = ArchiveSink(archive, classifier, on_new_article=[hold])
    fast = ArchiveSink(other, classifier)
    text = NICKEL + " The plant will ship cathode material from 2027, its owners said, and will"
    text += " employ about 1,200 people once both lines run; a second phase depends on financing."
    results: dict[str, bool] = {}
    try:
        holder = threading.Thread(target=lambda: results.update(
            slow=slow.store(fetched(first_source, "http://a.test/x", "Nickel deal", text))
        ))  # fmt: skip
        holder.start()
        assert inside.wait(30)
        racers = [
            threading.Thread(target=lambda: results.update(same_url=fast.store(
                fetched(second_source, "http://a.test/x?utm_source=b", "Nickel deal", text)))),
            threading.Thread(target=lambda: results.update(same_text=fast.store(
                fetched(third_source, "http://c.test/copy", "Nickel deal", text)))),
        ]  # fmt: skip
        for racer in racers:
            racer.start()
        racers[0].join(1.0)
        assert racers[0].is_alive(), "the second writer did not wait for the first"
        release.set()
        for thread in (holder, *racers):
            thread.join(30)
    finally:
        release.set()
        other.close()
    assert results == {"slow": True, "same_url": False, "same_text": False}
    with archive.reader() as session:
        assert session.execute(select(func.count()).select_from(Article)).scalar_one() == 1
        assert session.execute(select(func.count()).select_from(Story)).scalar_one() == 1
        sources = session.execute(select(ArticleSource.source_id)).scalars().all()
        urls = session.execute(select(ArticleUrl.url)).scalars().all()
    assert sorted(sources) == [first_source, second_source, third_source]
    assert sorted(urls) == ["http://a.test/x", "http://c.test/copy"]


def test_a_cluster_lock_is_held_by_one_worker_at_a_time(archive):
    with cluster_lock(archive, "digest:morning") as first:
        assert first
        other = Archive(archive.url)
        try:
            with cluster_lock(other, "digest:morning") as second:
                assert second is archive.is_sqlite  # SQLite: the daemon's file lock guards instead
            with cluster_lock(other, "digest:evening") as unrelated:
                assert unrelated
        finally:
            other.close()
    with cluster_lock(archive, "digest:morning") as again:
        assert again
    if not archive.is_sqlite:  # the lock went back with its connection unlocked
        with archive.engine.connect() as connection:
            held = connection.execute(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
            ).scalar()
        assert held == 0


def test_daemons_starting_together_register_the_sources_once(archive):
    """Each starting daemon mirrors config.yaml into the sources table; the second must wait."""
    if archive.is_sqlite:
        pytest.skip("SQLite has one writer at a time: there is no race to lose")
    definitions = [SourceDefinition(f"s{i}", f"http://127.0.0.1/{i}.xml", "feed") for i in range(5)]
    now = datetime.now(UTC)
    inside, release, errors = threading.Event(), threading.Event(), []

    def first() -> None:
        with archive.session() as session:
            sync_sources(session, definitions, now)
            inside.set()
            release.wait(30)

    def second() -> None:
        try:
            with other.session() as session:
                sync_sources(session, definitions, now)
        except Exception as exc:  # a unique violation here is the bug this test is about
            errors.append(exc)

    other = Archive(archive.url)
    try:
        threads = [threading.Thread(target=first), threading.Thread(target=second)]
        threads[0].start()
        assert inside.wait(30)
        threads[1].start()
        threads[1].join(1.0)
        assert threads[1].is_alive(), "the second daemon did not wait for the first"
        release.set()
        for thread in threads:
            thread.join(30)
    finally:
        release.set()
        other.close()
    assert errors == []
    with archive.reader() as session:
        assert session.execute(select(func.count()).select_from(Source)).scalar_one() == 5
