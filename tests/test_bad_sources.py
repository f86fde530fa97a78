"""Each kind of bad source fails alone, with a readable error recorded on it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from monitor.demo.server import Route
from storage.models import Article, Source
from tests.conftest import FAST_FETCH, article_html, filler, poll, rss

GOOD_TEXT = "Vietnam and Japan signed a grant for a battery recycling plant near Hanoi."


def _serve_good_source(site) -> None:
    site.routes["/good.xml"] = Route(body=rss([{"title": "Good", "link": site.url("good.html")}]))
    site.routes["/good.html"] = Route(body=article_html("Good news", filler(GOOD_TEXT)))


CASES = {
    "http 404": (Route(404, b"no such feed"), "HTTP 404"),
    "http 500": (Route(500, b"oops"), "HTTP 500"),
    "timeout": (Route(body=rss([]), delay=3), "timed out"),
    "malformed xml": (
        Route(body=b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</ti<item>\x00\x01'),
        "not a feed",
    ),
    "html instead of a feed": (
        Route(
            body=b"<!doctype html><html><body><h1>Welcome</h1></body></html>",
            headers={"Content-Type": "text/html"},
        ),
        "HTML page",
    ),
    "over the size cap": (
        Route(body=rss([{"title": "x" * 200, "link": f"http://x/{i}"} for i in range(200)])),
        "size cap",
    ),
    "redirect loop": (Route(302, b"", {"Location": "/bad.xml"}, conditional=False), "redirect"),
    "redirect to file://": (
        Route(302, b"", {"Location": "file:///etc/passwd"}, conditional=False),
        "not followed",
    ),
    "entity expansion": (
        Route(
            body=b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;">]>'
            b'<rss version="2.0"><channel><title>&b;</title></channel></rss>'
        ),
        "entities",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_source_fails_alone_with_a_readable_error(case, site, make_monitor):
    route, expected = CASES[case]
    site.routes["/bad.xml"] = route
    _serve_good_source(site)
    monitor = make_monitor(
        fetch={**FAST_FETCH, "timeout": 1, "max_bytes": 4096, "max_redirects": 3},
        sources=[
            {"name": "Bad", "url": site.url("bad.xml")},
            {"name": "Good", "url": site.url("good.xml")},
        ],
    )

    reports = poll(monitor)

    assert (reports["Good"].status, reports["Good"].new) == ("ok", 1)
    assert reports["Bad"].status == "failed"
    assert expected in reports["Bad"].error, reports["Bad"].error
    with monitor.archive.reader() as session:
        bad = session.execute(select(Source).where(Source.name == "Bad")).scalar_one()
        assert bad.consecutive_failures == 1 and expected in bad.last_error
        assert session.execute(select(Article.title)).scalars().all() == ["Good news"]


def test_robots_txt_is_obeyed(site, make_monitor):
    site.routes["/robots.txt"] = Route(body=b"User-agent: *\nDisallow: /private/\n")
    site.routes["/private/feed.xml"] = Route(body=rss([{"title": "x", "link": site.url("x.html")}]))
    _serve_good_source(site)
    monitor = make_monitor(
        sources=[{"name": "Private", "url": site.url("private/feed.xml")},
                 {"name": "Good", "url": site.url("good.xml")}]
    )  # fmt: skip

    reports = poll(monitor)

    assert reports["Private"].error == "forbidden by robots.txt"
    assert site.hits["/private/feed.xml"] == 0
    assert reports["Good"].new == 1


def test_a_wrong_declared_charset_still_gives_readable_titles(site, make_monitor):
    body = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        f"<item><title>Caf\u00e9 owners in Montr\u00e9al</title><link>{site.url('good.html')}</link></item>"
        "</channel></rss>"
    ).encode("windows-1252")
    site.routes["/latin.xml"] = Route(
        body=body, headers={"Content-Type": "text/xml; charset=utf-8"}
    )
    site.routes["/good.html"] = Route(body=b"<html><body></body></html>")
    monitor = make_monitor(
        sources=[{"name": "Latin", "url": site.url("latin.xml")}],
    )

    report = poll(monitor)["Latin"]

    assert report.status == "ok" and report.new == 1
    with monitor.archive.reader() as session:
        assert session.execute(select(Article.title)).scalar_one() == "Café owners in Montréal"


def test_entries_without_links_dates_or_with_future_dates(site, make_monitor):
    site.routes["/odd.xml"] = Route(
        body=rss(
            [
                {
                    "title": "No link at all",
                    "description": "Only a summary here",
                },
                {
                    "title": "From the future",
                    "link": site.url("future.html"),
                    "pubDate": "Tue, 01 Jan 2099 00:00:00 GMT",
                },
                {"title": "Duplicate guid", "link": site.url("future.html"), "guid": "dup"},
            ]
        )
    )
    site.routes["/future.html"] = Route(body=article_html("Future", filler(GOOD_TEXT)))
    monitor = make_monitor(sources=[{"name": "Odd", "url": site.url("odd.xml")}])

    report = poll(monitor)["Odd"]

    assert (report.status, report.new) == ("ok", 2)
    with monitor.archive.reader() as session:
        rows = {a.title: a for a in session.execute(select(Article)).scalars()}
    assert rows["No link at all"].canonical_url.startswith("urn:newsmon:entry:")
    assert rows["Future"].published_at.year < 2099
