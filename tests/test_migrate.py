"""An archive moved from SQLite to PostgreSQL holds the same articles, tags and alerts, and
answers searches with the same ids; an interrupted copy resumes without duplicating rows."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from monitor.daemon import DaemonLock
from storage.db import Archive
from storage.models import Alert, Article, ArticleSource, ArticleUrl, Source, Story, Tag
from storage.search import SearchRequest, search_page
from storage.transfer import copy_archive
from tests.processes import newsmon

COUNTED = (Source, Story, Article, ArticleUrl, ArticleSource, Tag, Alert)
QUERIES = ("nickel", '"European Union"', "battery AND Indonesia", "japan*", "ASEAN NOT Japan",
           "tariff OR lithium")  # fmt: skip


def counts(archive: Archive) -> dict[str, int]:
    with archive.reader() as session:
        return {
            model.__tablename__: session.execute(
                select(func.count()).select_from(model)
            ).scalar_one()
            for model in COUNTED
        }


def answers(archive: Archive) -> dict[str, list[int]]:
    with archive.reader() as session:
        return {
            query: sorted(
                row.id for row in search_page(session, SearchRequest(query=query, limit=200)).rows
            )
            for query in QUERIES
        }


def test_the_demo_archive_moves_to_postgresql_with_the_same_answers(demo_url, pg_url):
    done = newsmon("db", "migrate-sqlite-to-postgres", demo_url, pg_url)
    assert "copied" in done.stdout and "articles" in done.stdout
    assert "articles" in done.stderr  # the progress bars
    source, target = Archive(demo_url), Archive(pg_url)
    try:
        before, after = counts(source), counts(target)
        assert before == after and before["articles"] >= 30 and before["alerts"] > 0
        expected = answers(source)
        assert any(expected.values())
        assert answers(target) == expected
        again = newsmon("db", "migrate-sqlite-to-postgres", demo_url, pg_url)
        assert "nothing new to copy" in again.stdout
        assert counts(target) == before
        with target.session() as session:  # ids handed out after the copy do not collide
            story = Story(title_key="after the move", first_seen_at=func.now())
            session.add(story)
            session.flush()
            assert story.id > before["stories"]
    finally:
        source.close()
        target.close()


def test_an_interrupted_copy_resumes_where_it_stopped(demo_url, pg_url):
    source, target = Archive(demo_url), Archive(pg_url)

    class Interrupted(Exception):
        pass

    def stop_in_articles(table: str, done: int, total: int) -> None:
        if table == "articles" and 10 <= done < total:
            raise Interrupted

    try:
        with pytest.raises(Interrupted):
            copy_archive(source, target, chunk=5, progress=stop_in_articles)
        partial = counts(target)
        assert 10 <= partial["articles"] < counts(source)["articles"]
        copied = copy_archive(source, target, chunk=5)
        assert copied["sources"] == 0 and 0 < copied["articles"] < counts(source)["articles"]
        assert counts(target) == counts(source)
        assert answers(target) == answers(source)
    finally:
        source.close()
        target.close()


def test_a_wrong_source_or_target_or_a_running_daemon_is_refused(tmp_path, demo_url, pg_url):
    missing = newsmon("db", "migrate-sqlite-to-postgres", str(tmp_path / "none.db"), pg_url,
                      check=False)  # fmt: skip
    assert missing.returncode == 2 and "no such SQLite archive" in missing.stderr
    wrong = newsmon("db", "migrate-sqlite-to-postgres", pg_url, pg_url, check=False)
    assert wrong.returncode == 2 and "SRC must be a SQLite archive" in wrong.stderr
    lock = DaemonLock(demo_url)  # what a running daemon holds
    lock.acquire()
    try:
        busy = newsmon("db", "migrate-sqlite-to-postgres", demo_url, pg_url, check=False)
    finally:
        lock.release()
    assert busy.returncode == 2 and "stop it first" in busy.stderr
