"""The archive under strain: locked by another writer, full, or read-only. Nothing is lost."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from monitor.demo.server import Route
from monitor.errors import StorageError
from storage.models import Article, Source
from tests.conftest import article_html, filler, poll, rss

TEXT = "Indonesia and Japan agreed to build a nickel refinery for battery makers."
pytestmark = pytest.mark.sqlite_only  # PostgreSQL has no file to lock, fill or make read-only


def serve(site, count: int) -> None:
    items = [
        {"title": f"Story {i}", "link": site.url(f"s{i}.html"), "guid": str(i)}
        for i in range(count)
    ]
    site.routes["/feed.xml"] = Route(body=rss(items))
    for i in range(count):
        site.routes[f"/s{i}.html"] = Route(
            body=article_html(f"Story {i}", filler(TEXT + f" ({i})", 12))
        )


def stored(monitor) -> int:
    with monitor.archive.reader() as session:
        return session.execute(select(func.count()).select_from(Article)).scalar_one()


def database_path(monitor) -> Path:
    return Path(monitor.archive.engine.url.database)


def test_a_writer_holding_the_lock_for_seconds_makes_the_poll_wait_not_fail(site, make_monitor):
    serve(site, 3)
    monitor = make_monitor(sources=[{"name": "Wire", "url": site.url("feed.xml")}])
    locker = sqlite3.connect(database_path(monitor), isolation_level=None, check_same_thread=False)
    locker.execute("BEGIN IMMEDIATE")  # another process writing for a while
    threading.Timer(2.0, locker.commit).start()

    report = poll(monitor)["Wire"]

    assert (report.status, report.new, report.failed_articles) == ("ok", 3, 0)
    assert stored(monitor) == 3
    locker.close()


def _limit_writes(monitor, pragma: str) -> None:
    """Every new connection of this archive gets ``pragma`` (the pool starts afresh)."""
    engine = monitor.archive.engine
    engine.dispose()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.execute(pragma)


def test_a_full_disk_is_a_clear_error_and_the_next_poll_stores_everything(site, make_monitor):
    serve(site, 6)
    monitor = make_monitor(sources=[{"name": "Wire", "url": site.url("feed.xml")}])
    with sqlite3.connect(database_path(monitor)) as raw:
        pages = raw.execute("PRAGMA page_count").fetchone()[0]
    _limit_writes(monitor, f"PRAGMA max_page_count = {pages + 3}")  # the disk fills up

    first = poll(monitor)["Wire"]

    assert first.failed_articles > 0
    assert any("database or disk is full" in w for w in first.warnings), first.warnings
    with monitor.archive.reader() as session:
        source = session.execute(select(Source)).scalar_one()
        assert source.etag is None  # the next poll must not be told "304, nothing new"
    partial = stored(monitor)
    assert partial < 6

    _limit_writes(monitor, "PRAGMA max_page_count = 1073741823")  # space again
    second = poll(monitor)["Wire"]

    assert second.new == 6 - partial and stored(monitor) == 6
    with sqlite3.connect(database_path(monitor)) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_read_only_archive_is_a_clear_error_and_changes_nothing(site, make_monitor):
    serve(site, 2)
    monitor = make_monitor(sources=[{"name": "Wire", "url": site.url("feed.xml")}])
    _limit_writes(monitor, "PRAGMA query_only = ON")  # as a read-only file or mount behaves

    with pytest.raises(StorageError, match="attempt to write a readonly database"):
        poll(monitor)  # the daemon logs this line and goes on with the next poll

    _limit_writes(monitor, "PRAGMA query_only = OFF")
    assert stored(monitor) == 0
    assert poll(monitor)["Wire"].new == 2
