"""The search plans against a reference computed in Python: same answers, whatever the plan."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

import storage.search as search_module
from storage.db import Archive
from storage.models import Article, ArticleSource, Source, Story, Tag
from storage.search import SearchRequest, count_matches, facets, iter_rows, search_page

N = 240
START = datetime(2026, 1, 1, tzinfo=UTC)


def words_of(i: int) -> list[str]:
    words = ["report"]
    if i % 3 == 0:
        words.append("alpha")
    if i % 5 == 0:
        words.append("beta")
    if i % 7 == 0:
        words.append("batteries")
    if i % 11 == 0:
        words.append("battery")
    return words


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def archive(request, tmp_path_factory):
    rng = random.Random(3)
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('search') / 's.db'}"
    else:
        url = request.getfixturevalue("pg_module_url")
    archive = Archive(url)
    when = {i: START + timedelta(hours=rng.randrange(2000)) for i in range(1, N + 1)}
    when[17] = when[18]  # ties on the sort key must still page correctly
    with archive.session() as session:
        session.execute(
            insert(Source),
            [
                {
                    "id": s,
                    "name": f"S{s}",
                    "url": f"http://x/{s}",
                    "kind": "feed",
                    "enabled": True,
                    "adhoc": False,
                    "consecutive_failures": 0,
                    "created_at": START,
                }
                for s in (1, 2)
            ],
        )
        session.execute(
            insert(Story), [{"id": i, "title_key": str(i), "first_seen_at": when[i]} for i in when]
        )
        session.execute(
            insert(Article),
            [
                {
                    "id": i,
                    "story_id": i,
                    "canonical_url": f"http://x/a/{i}",
                    "title": f"Item {i}",
                    "text": " ".join(words_of(i)) + " filler words here",
                    "summary": "",
                    "language": "ja" if i % 4 == 0 else "en",
                    "published_at": when[i],
                    "fetched_at": when[i],
                    "extraction": "full",
                }
                for i in when
            ],
        )
        session.execute(
            insert(ArticleSource),
            [
                {
                    "article_id": i,
                    "source_id": 1 + i % 2,
                    "url": f"http://x/a/{i}",
                    "first_seen_at": when[i],
                }
                for i in when
            ],
        )
        session.execute(
            insert(Tag),
            [
                {
                    "article_id": i,
                    "topic": "t1",
                    "score": float(i % 10),
                    "explanation": {},
                    "tagged_at": when[i],
                }
                for i in when
                if i % 2 == 0
            ],
        )
    yield archive, when
    archive.close()


def expected(when, keep) -> list[int]:
    return sorted((i for i in when if keep(i)), key=lambda i: (when[i], i), reverse=True)


def walk(session, request, page=7) -> list[int]:
    seen, cursor = [], None
    while True:
        result = search_page(
            session, SearchRequest(**{**request.__dict__, "limit": page, "cursor": cursor})
        )
        seen += [row.id for row in result.rows]
        if result.next_cursor is None:
            return seen
        cursor = result.next_cursor


CASES = {
    "alpha": (SearchRequest(query="alpha", sort="date"), lambda i: i % 3 == 0),
    "alpha or beta, topic": (SearchRequest(query="alpha OR beta", topics=("t1",), sort="date"),
                             lambda i: (i % 3 == 0 or i % 5 == 0) and i % 2 == 0),
    "prefix, language": (SearchRequest(query="batter*", language="ja", sort="date"),
                         lambda i: (i % 7 == 0 or i % 11 == 0) and i % 4 == 0),
    "not, source": (SearchRequest(query="report NOT alpha", sources=("S2",), sort="date"),
                    lambda i: i % 3 != 0 and i % 2 == 1),
    "browse, score": (SearchRequest(topics=("t1",), min_score=5, sort="date"),
                      lambda i: i % 2 == 0 and i % 10 >= 5),
    "browse, since": (SearchRequest(since=START + timedelta(hours=1000)), None),
}  # fmt: skip


@pytest.mark.parametrize("dense", [0, 10**9], ids=["walk-date-index", "look-up-matches"])
@pytest.mark.parametrize("case", list(CASES))
def test_date_ordered_pages_equal_the_reference(archive, monkeypatch, case, dense):
    monkeypatch.setattr(search_module, "DENSE_MATCHES", dense)
    db, when = archive
    request, keep = CASES[case]
    if keep is None:
        keep = lambda i: when[i] >= START + timedelta(hours=1000)  # noqa: E731
    with db.reader() as session:
        assert walk(session, request) == expected(when, keep)
        assert count_matches(session, request) == len(expected(when, keep))


def test_relevance_ranks_the_newest_window_of_matches(archive, monkeypatch):
    monkeypatch.setattr(search_module, "RANK_WINDOW", 25)
    db, when = archive
    with db.reader() as session:
        ids = walk(session, SearchRequest(query="alpha OR batteries"))
        matches = sorted((i for i in when if i % 3 == 0 or i % 7 == 0), reverse=True)
        assert sorted(ids, reverse=True) == matches[:25]  # the 25 most recently stored
        ranked = search_page(session, SearchRequest(query="alpha OR batteries", limit=25)).rows
        both = [r.id for r in ranked if r.id % 21 == 0]
        assert both and ranked[0].id in both  # matching both terms ranks first
        assert all("\ue000" in r.snippet for r in ranked)


def test_facets_and_streaming_cover_every_match(archive):
    db, when = archive
    request = SearchRequest(query="beta")
    with db.reader() as session:
        found = facets(session, request)
        assert dict(found["sources"]) == {"S1": len([i for i in when if i % 5 == 0 and i % 2 == 1]),
                                          "S2": len([i for i in when if i % 5 == 0 and i % 2 == 0])}  # fmt: skip
        streamed = [row.id for row in iter_rows(session, request, page_size=4, with_text=True)]
    assert sorted(streamed) == [i for i in sorted(when) if i % 5 == 0]
