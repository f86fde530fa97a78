"""The web UI, JSON API and Atom feeds, through the ASGI test client on the demo archive."""

from __future__ import annotations

import base64

import feedparser
import pytest
from fastapi.testclient import TestClient

from monitor.config import load_config
from monitor.web import create_app
from storage.db import Archive
from storage.transfer import copy_archive
from tests.conftest import HOSTILE_TITLE, REPO
from tests.processes import newsmon


def client_for(url: str, **web: str) -> TestClient:
    config = load_config(REPO / "config.yaml").with_storage_url(url)
    if web:
        config = config.model_copy(update={"web": config.web.model_copy(update=web)})
    return TestClient(create_app(config))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def client(request, demo_url) -> TestClient:
    """The demo archive as it is (SQLite), and copied into PostgreSQL: same pages, same answers."""
    if request.param == "sqlite":
        return client_for(demo_url)
    target = request.getfixturevalue("pg_module_url")
    source, copy = Archive(demo_url), Archive(target)
    try:
        copy_archive(source, copy)
    finally:
        source.close()
        copy.close()
    return client_for(target)


def test_search_page_highlights_filters_and_facets(client):
    page = client.get("/", params={"q": "nickel"})
    assert page.status_code == 200
    html = page.text
    assert "<mark>nickel</mark>" in html.lower()
    assert 'data-topic="ev_supply_chain"' in html  # a facet with its count
    filtered = client.get("/", params={"q": "Japan", "topic": "eu_japan"}).text
    ids = set(_result_ids(filtered))
    api = client.get(
        "/api/articles", params={"q": "Japan", "topic": "eu_japan", "limit": 100}
    ).json()
    assert ids == {item["id"] for item in api["items"]} and ids
    assert all("eu_japan" in item["topics"] for item in api["items"])


def _result_ids(html: str) -> list[int]:
    import re

    return [int(m) for m in re.findall(r'class="title" href="/articles/(\d+)"', html)]


def test_api_pages_with_cursors_through_every_match(client):
    first = client.get("/api/articles", params={"limit": 7, "total": "true", "sort": "date"}).json()
    seen, page = [], first
    while True:
        seen += [item["id"] for item in page["items"]]
        if not page["next_cursor"]:
            break
        page = client.get("/api/articles", params={"limit": 7, "sort": "date",
                                                    "cursor": page["next_cursor"]}).json()  # fmt: skip
    assert len(seen) == len(set(seen)) == first["total"] >= 35
    dates = [item["published"] or item["fetched"] for item in first["items"]]
    assert dates == sorted(dates, reverse=True)


def test_api_article_topics_sources_stats_and_schema(client):
    nickel = client.get("/api/articles", params={"q": "Sulawesi nickel", "limit": 1}).json()
    article = client.get(f"/api/articles/{nickel['items'][0]['id']}").json()
    assert article["text"] and article["carried_by"] and article["topics"][0]["hits"]
    assert client.get("/api/articles/999999").status_code == 404
    topics = {t["name"]: t for t in client.get("/api/topics").json()}
    assert set(topics) >= {"ev_supply_chain", "asean_japan", "eu_japan"}
    assert topics["ev_supply_chain"]["articles"] >= 10 and topics["eu_japan"]["query"]
    sources = {s["name"]: s for s in client.get("/api/sources").json()}
    assert sources["Broken Feed"]["consecutive_failures"] == 1
    stats = client.get("/api/stats", params={"by": "week", "per": "topic"}).json()
    assert stats and {"period", "group", "articles"} <= set(stats[0])
    assert (
        sum(r["articles"] for r in stats if r["group"] == "eu_japan")
        == topics["eu_japan"]["articles"]
    )
    schema = client.get("/api/openapi.json").json()
    assert {"/api/articles", "/api/articles/{article_id}", "/api/topics", "/api/sources",
            "/api/stats"} <= set(schema["paths"])  # fmt: skip


def test_atom_feeds_parse_back_with_feedparser(client):
    topic = feedparser.parse(client.get("/feeds/topic/eu_japan.atom").content)
    assert not topic.bozo and topic.version == "atom10"
    assert topic.feed.title == "newsmon: eu_japan" and len(topic.entries) >= 4
    assert all(e.link.startswith("http://127.0.0.1") for e in topic.entries)
    assert all("eu_japan" in [t.term for t in e.tags] for e in topic.entries)
    search = feedparser.parse(client.get("/feeds/search.atom", params={"q": "nickel"}).content)
    assert not search.bozo and search.entries
    assert all("nickel" in (e.title + e.summary).lower() for e in search.entries)
    assert client.get("/feeds/topic/nope.atom").status_code == 404


@pytest.mark.parametrize(
    "query", ["'; DROP TABLE articles; --", "nickel\" OR 1=1 --", "<script>alert(1)</script>",
              "NEAR(a b)", "title:* OR", ")))", "a AND", "*"],
)  # fmt: skip
def test_hostile_queries_are_a_clean_error_or_an_escaped_result(client, query):
    page = client.get("/", params={"q": query})
    api = client.get("/api/articles", params={"q": query})
    assert page.status_code in (200, 400) and api.status_code == page.status_code
    assert "Traceback" not in page.text and "sqlite3" not in page.text.lower()
    assert "<script>alert(1)</script>" not in page.text
    if api.status_code == 400:
        assert "search query" in api.json()["error"]
    assert client.get("/api/articles", params={"limit": 1, "total": "true"}).json()["total"] >= 35


def test_stored_html_is_escaped_never_rendered(client):
    found = client.get("/api/articles", params={"q": "quokka"}).json()["items"]
    assert [item["title"] for item in found] == [HOSTILE_TITLE]
    listing = client.get("/", params={"q": "quokka"}).text
    article = client.get(f"/articles/{found[0]['id']}").text
    for html in (listing, article):
        assert "<script>alert" not in html and "<b>quokka</b>" not in html
        assert "&lt;script&gt;" in html
    assert "<img" not in article and "&lt;img src=x onerror=alert(1)&gt;" in article
    assert '<mark data-topic="ev_supply_chain" title="ev_supply_chain">Nickel</mark>' in article
    assert "default-src 'self'" in client.get("/").headers["content-security-policy"]


def test_the_search_form_round_trips_every_filter(client):
    empty = client.get("/", params={"q": "", "topic": "", "since": "", "lang": "", "min_score": ""})
    assert empty.status_code == 200
    page = client.get("/", params={"q": "Japan", "lang": "en", "min_score": "3", "sort": "date"})
    assert page.status_code == 200
    assert 'name="lang" value="en"' in page.text and 'name="min_score" value="3.0"' in page.text
    api = client.get("/api/articles", params={"q": "Japan", "lang": "en", "min_score": "3"}).json()
    assert api["items"] and all(max(i["scores"].values()) >= 3 for i in api["items"])
    bad = client.get("/api/articles", params={"min_score": "lots"})
    assert bad.status_code == 400 and "min_score 'lots'" in bad.json()["error"]


def test_bad_cursor_and_bad_date_are_400_with_a_reason(client):
    assert client.get("/api/articles", params={"cursor": "garbage"}).status_code == 400
    bad_date = client.get("/", params={"since": "last tuesday"})
    assert bad_date.status_code == 400 and "use 7d, 24h, 2w or a date" in bad_date.text


def test_article_page_shows_every_outlet_and_highlights_matches(client):
    passport = client.get("/api/articles", params={"q": '"battery passport"'}).json()["items"][0]
    html = client.get(f"/articles/{passport['id']}").text
    assert "Brussels Brief" in html and "EV Supply Wire" in html  # the story's two outlets
    assert html.count("<mark data-topic=") >= 3


def test_sources_and_trends_pages(client):
    assert "Broken Feed" in client.get("/sources").text
    trends = client.get("/trends", params={"days": 365}).text
    assert "<polyline" in trends and "ev_supply_chain" in trends


def test_a_token_guards_everything_when_set(demo_url):
    guarded = client_for(demo_url, token="s3cret-token")
    assert guarded.get("/").status_code == 401
    assert guarded.get("/").headers["www-authenticate"].startswith("Basic")
    assert guarded.get("/api/topics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert (
        guarded.get("/api/topics", headers={"Authorization": "Bearer s3cret-token"}).status_code
        == 200
    )
    basic = base64.b64encode(b"anyone:s3cret-token").decode()
    assert guarded.get("/", headers={"Authorization": f"Basic {basic}"}).status_code == 200
    assert (
        guarded.get("/feeds/topic/eu_japan.atom", params={"token": "s3cret-token"}).status_code
        == 200
    )


def test_serve_refuses_a_public_address_without_a_password(tmp_path):
    done = newsmon(
        "serve", "--host", "0.0.0.0", "--db", f"sqlite:///{tmp_path / 'x.db'}", check=False
    )
    assert done.returncode == 2
    assert "refusing to serve the archive on 0.0.0.0 without a password" in done.stderr
