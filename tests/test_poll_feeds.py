"""Polling real feeds from a real local server: formats, extraction, fallbacks, conditional GET."""

from __future__ import annotations

import json

from sqlalchemy import select

from monitor.demo.server import Route
from storage.models import Article, ArticleSource, PollRun, Source
from tests.conftest import article_html, filler, poll, rss

NICKEL = "The Sulawesi smelter will refine nickel for battery cathodes made in Japan."


def articles(monitor) -> dict[str, Article]:
    with monitor.archive.reader() as session:
        return {a.canonical_url: a for a in session.execute(select(Article)).scalars()}


def test_rss_poll_extracts_pages_and_falls_back_to_the_feed(site, make_monitor):
    site.routes["/feed.xml"] = Route(
        body=rss(
            [
                {
                    "title": "Smelter opens",
                    "link": site.url("a/one.html"),
                    "guid": "1",
                    "description": "Short summary one",
                    "pubDate": "Mon, 23 Nov 2026 10:00:00 GMT",
                },
                {
                    "title": "Gone page",
                    "link": site.url("a/missing.html"),
                    "guid": "2",
                    "description": "The summary of a page that is gone",
                },
                {
                    "title": "Script shell",
                    "link": site.url("a/shell.html"),
                    "guid": "3",
                    "description": "A summary that survives a page without text",
                },
            ]
        ),
        headers={"Content-Type": "application/rss+xml"},
    )
    site.routes["/a/one.html"] = Route(
        body=article_html("Nickel smelter opens in Sulawesi", filler(NICKEL)),
        headers={"Content-Type": "text/html; charset=utf-8"},
    )
    site.routes["/a/shell.html"] = Route(
        body=b'<html><body><div id="app"></div><script>boot()</script></body></html>',
        headers={"Content-Type": "text/html"},
    )
    monitor = make_monitor(sources=[{"name": "Wire", "url": site.url("feed.xml")}])

    report = poll(monitor)["Wire"]

    assert (report.status, report.entries, report.new, report.failed_articles) == ("ok", 3, 3, 1)
    stored = articles(monitor)
    one = stored[site.url("a/one.html")]
    assert one.extraction == "full"
    assert NICKEL in one.text and "Copyright" not in one.text and "Business" not in one.text
    assert one.title == "Nickel smelter opens in Sulawesi"
    assert one.language == "en"
    assert one.published_at.isoformat() == "2026-11-23T10:00:00+00:00"
    gone = stored[site.url("a/missing.html")]
    assert gone.extraction == "feed" and gone.text == "The summary of a page that is gone"
    assert "HTTP 404" in gone.extraction_note
    shell = stored[site.url("a/shell.html")]
    assert shell.extraction == "failed" and shell.title == "Script shell"
    assert shell.text == "A summary that survives a page without text"


def test_second_poll_sends_validators_and_a_304_stores_nothing(site, make_monitor):
    feed = rss([{"title": "One", "link": site.url("one.html"), "guid": "1"}])
    site.routes["/feed.xml"] = Route(
        body=feed, headers={"Last-Modified": "Mon, 23 Nov 2026 10:00:00 GMT"}
    )
    site.routes["/one.html"] = Route(body=article_html("One", filler(NICKEL)))
    monitor = make_monitor(sources=[{"name": "Wire", "url": site.url("feed.xml")}])

    first, second = poll(monitor)["Wire"], poll(monitor)["Wire"]

    assert (first.status, first.new) == ("ok", 1)
    assert (second.status, second.new) == ("not_modified", 0)
    feed_requests = [headers for path, headers in site.requests if path == "/feed.xml"]
    assert "if-none-match" not in feed_requests[0]
    assert feed_requests[1]["if-none-match"].startswith('"')
    assert feed_requests[1]["if-modified-since"] == "Mon, 23 Nov 2026 10:00:00 GMT"
    assert site.hits["/one.html"] == 1
    with monitor.archive.reader() as session:
        runs = session.execute(select(PollRun.status).order_by(PollRun.id)).scalars().all()
    assert runs == ["ok", "not_modified"]


def test_a_changed_feed_is_followed_only_for_its_new_entries(site, make_monitor):
    items = [{"title": "One", "link": site.url("one.html"), "guid": "1"}]
    site.routes["/feed.xml"] = Route(body=lambda: rss(items))
    for name in ("one", "two"):
        site.routes[f"/{name}.html"] = Route(body=article_html(name, filler(NICKEL + name)))
    monitor = make_monitor(sources=[{"name": "Wire", "url": site.url("feed.xml")}])
    assert poll(monitor)["Wire"].new == 1
    items.insert(0, {"title": "Two", "link": site.url("two.html"), "guid": "2"})

    report = poll(monitor)["Wire"]

    assert (report.new, report.known) == (1, 1)
    assert site.hits["/one.html"] == 1 and site.hits["/two.html"] == 1


def test_atom_json_feed_sitemap_and_listing_sources(site, make_monitor):
    page = lambda title: Route(body=article_html(title, filler(f"{title}. {NICKEL}")))  # noqa: E731
    for name in ("atom1", "json1", "map1", "list1", "list2"):
        site.routes[f"/p/{name}.html"] = page(name)
    site.routes["/atom.xml"] = Route(
        body=(
            '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            "<title>A</title><id>urn:a</id><updated>2026-11-20T00:00:00Z</updated>"
            f'<entry><title>Atom one</title><link href="{site.url("p/atom1.html")}"/>'
            "<id>urn:a:1</id><updated>2026-11-20T08:00:00Z</updated><summary>s</summary></entry>"
            "</feed>"
        ).encode(),
        headers={"Content-Type": "application/atom+xml"},
    )
    site.routes["/feed.json"] = Route(
        body=json.dumps(
            {
                "version": "https://jsonfeed.org/version/1.1",
                "title": "J",
                "items": [
                    {
                        "id": "j1",
                        "url": site.url("p/json1.html"),
                        "title": "Json one",
                        "date_published": "2026-11-21T09:30:00+09:00",
                        "content_text": "t",
                    }
                ],
            }
        ).encode(),
        headers={"Content-Type": "application/feed+json"},
    )
    site.routes["/sitemap-index.xml"] = Route(
        body=(
            '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<sitemap><loc>{site.url('news.xml')}</loc></sitemap></sitemapindex>"
        ).encode()
    )
    site.routes["/news.xml"] = Route(
        body=(
            '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
            'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
            f"<url><loc>{site.url('p/map1.html')}</loc><news:news><news:publication>"
            "<news:name>M</news:name><news:language>en</news:language></news:publication>"
            "<news:publication_date>2026-11-22T06:00:00Z</news:publication_date>"
            "<news:title>Map one</news:title></news:news></url></urlset>"
        ).encode()
    )
    site.routes["/press.html"] = Route(
        body=(
            b"<html><body><nav><a href='/about/us-and-our-long-history.html'>About us and our history</a></nav>"
            b"<ul class='press-list'><li><a class='press-link' href='/p/list1.html'>First</a></li>"
            b"<li><a class='press-link' href='p/list2.html'>Second</a></li></ul>"
            b"<footer><a href='/p/other.html'>Other link in the footer area</a></footer></body></html>"
        ),
        headers={"Content-Type": "text/html"},
    )
    monitor = make_monitor(
        sources=[
            {"name": "Atom", "url": site.url("atom.xml")},
            {"name": "Json", "url": site.url("feed.json")},
            {"name": "Map", "url": site.url("sitemap-index.xml"), "kind": "sitemap"},
            {
                "name": "List",
                "url": site.url("press.html"),
                "kind": "listing",
                "link_selector": "ul.press-list a.press-link",
            },
        ]
    )

    reports = poll(monitor)

    assert {name: (r.status, r.new) for name, r in reports.items()} == {
        "Atom": ("ok", 1), "Json": ("ok", 1), "Map": ("ok", 1), "List": ("ok", 2),
    }  # fmt: skip
    stored = articles(monitor)
    assert stored[site.url("p/json1.html")].published_at.isoformat() == "2026-11-21T00:30:00+00:00"
    assert stored[site.url("p/map1.html")].published_at.isoformat() == "2026-11-22T06:00:00+00:00"
    assert site.hits["/p/other.html"] == 0
    assert set(stored) == {
        site.url(f"p/{n}.html") for n in ("atom1", "json1", "map1", "list1", "list2")
    }


def test_one_article_through_two_feeds_is_stored_once_with_both_sources(site, make_monitor):
    original = site.url("story.html")
    site.routes["/story.html"] = Route(body=article_html("Shared story", filler(NICKEL)))
    site.routes["/copy.html"] = Route(
        body=article_html(
            "Shared story (copy)", filler("A reworded copy. " + NICKEL), canonical=original
        )
    )
    site.routes["/a.xml"] = Route(
        body=rss([{"title": "Shared", "link": original + "?utm_source=rss&utm_medium=feed#top"}])
    )
    site.routes["/b.xml"] = Route(
        body=rss([{"title": "Shared copy", "link": site.url("copy.html")}])
    )
    monitor = make_monitor(
        sources=[{"name": "A", "url": site.url("a.xml")}, {"name": "B", "url": site.url("b.xml")}]
    )

    reports = poll(monitor)

    assert reports["A"].new + reports["B"].new == 1
    with monitor.archive.reader() as session:
        (article,) = session.execute(select(Article)).scalars().all()
        linked = session.execute(
            select(Source.name).join(ArticleSource, ArticleSource.source_id == Source.id)
        ).scalars()
        assert sorted(linked) == ["A", "B"]
        assert article.canonical_url == original
        assert {u.url for u in article.urls} >= {original, site.url("copy.html")}


def test_identical_text_at_two_urls_is_one_article(site, make_monitor):
    text = filler("Identical wire copy about lithium refining in Thailand and Japan.")
    site.routes["/x.html"] = Route(body=article_html("Wire copy", text))
    site.routes["/y.html"] = Route(body=article_html("Wire copy", text))
    site.routes["/feed.xml"] = Route(
        body=rss(
            [{"title": "X", "link": site.url("x.html")}, {"title": "Y", "link": site.url("y.html")}]
        )
    )
    monitor = make_monitor(sources=[{"name": "W", "url": site.url("feed.xml")}])

    assert poll(monitor)["W"].new == 1
    assert len(articles(monitor)) == 1


def _two_feeds_of_six(site, make_monitor):
    for feed in ("a", "b"):
        site.routes[f"/{feed}.xml"] = Route(
            body=rss(
                [
                    {"title": f"Story {feed}{i}", "link": site.url(f"{feed}/{i}.html"),
                     "guid": f"{feed}{i}"}
                    for i in range(6)
                ]
            ),
            headers={"Content-Type": "application/rss+xml"},
        )  # fmt: skip
        for i in range(6):
            site.routes[f"/{feed}/{i}.html"] = Route(
                body=article_html(f"Story {feed}{i} on nickel", filler(NICKEL + f" ({feed}{i})")),
                headers={"Content-Type": "text/html; charset=utf-8"},
            )
    return make_monitor(
        sources=[{"name": "A", "url": site.url("a.xml")}, {"name": "B", "url": site.url("b.xml")}]
    )


def test_articles_arriving_together_share_a_transaction(site, make_monitor, monkeypatch):
    from sqlalchemy import event

    monkeypatch.setattr("monitor.pipeline.ARTICLE_DELAY_S", 60.0)  # batches close on sources only
    monitor = _two_feeds_of_six(site, make_monitor)
    commits = []
    event.listen(monitor.archive.engine, "commit", lambda _conn: commits.append(1))

    reports = poll(monitor)

    assert (reports["A"].new, reports["B"].new) == (6, 6)
    assert len(articles(monitor)) == 12
    # At most: the batch written when A finishes, the one when B finishes, the outcomes.
    assert len(commits) <= 3


def test_one_article_that_cannot_be_stored_costs_only_itself(site, make_monitor, monkeypatch):
    """A failed batch is retried article by article; the failure lands on its own source."""
    monkeypatch.setattr("monitor.pipeline.ARTICLE_DELAY_S", 60.0)
    monitor = _two_feeds_of_six(site, make_monitor)
    poisoned = {"enabled": True}

    def refuse_b3(_session, stored, _tags) -> None:
        if poisoned["enabled"] and stored.title.startswith("Story b3"):
            raise RuntimeError("hook refused b3")

    monitor.sink.on_new_article.append(refuse_b3)

    reports = poll(monitor)

    assert (reports["A"].new, reports["A"].failed_articles) == (6, 0)
    assert (reports["B"].new, reports["B"].failed_articles) == (5, 1)
    assert any("b/3.html" in w and "hook refused b3" in w for w in reports["B"].warnings)
    stored = articles(monitor)
    assert len(stored) == 11 and site.url("b/3.html") not in stored
    with monitor.archive.reader() as session:
        etags = dict(session.execute(select(Source.name, Source.etag)).all())
    assert etags["A"] and etags["B"] is None  # B's feed must be fetched in full next time

    poisoned["enabled"] = False
    again = poll(monitor)
    assert (again["A"].status, again["B"].new) == ("not_modified", 1)
    assert len(articles(monitor)) == 12


def test_feed_markup_leaves_only_its_readable_text(site, make_monitor):
    """JSON Feed's HTML is not sanitised by feedparser: scripts and styles must go here."""
    html = (
        "<p>Nickel &amp; cobalt <b>prices</b> rose.</p><script>track('x')</script>"
        "<style>p{color:red}</style><!-- ad slot --><p>Exports doubled.</p><script>never closed"
    )
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Wire",
        "items": [{"id": "p1", "title": "Prices rise", "content_html": html}],
    }
    site.routes["/feed.json"] = Route(
        body=json.dumps(feed).encode(), headers={"Content-Type": "application/feed+json"}
    )
    monitor = make_monitor(sources=[{"name": "Wire", "url": site.url("feed.json")}])

    assert poll(monitor)["Wire"].new == 1

    (article,) = articles(monitor).values()
    assert article.text == "Nickel & cobalt prices rose. Exports doubled."
