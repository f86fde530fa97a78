"""Hostile sources, against a real local server: the daemon stays up, other sources go on,
memory stays bounded, nothing hostile is stored, and the source records a readable error."""

from __future__ import annotations

import gzip
import os
import socket
import struct
import time
from http.server import BaseHTTPRequestHandler

import psutil
import pytest
from sqlalchemy import func, select

from monitor.demo.server import Route
from storage.models import Article, Source
from tests.conftest import FAST_FETCH, article_html, filler, poll, rss

GOOD_TEXT = "Thailand and Japan agreed on a battery cell plant near Bangkok."


def slow_drip(handler: BaseHTTPRequestHandler) -> None:
    """Headers at once, then one byte a second: a slowloris."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/rss+xml")
    handler.send_header("Content-Length", "100000")
    handler.end_headers()
    for _ in range(30):
        handler.wfile.write(b"<")
        handler.wfile.flush()
        time.sleep(1)


def reset_mid_body(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/rss+xml")
    handler.send_header("Content-Length", "50000")
    handler.end_headers()
    handler.wfile.write(rss([{"title": "half", "link": "http://x/1"}])[:120])
    handler.wfile.flush()
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.connection.close()  # RST, not FIN


def endless_chunks(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/rss+xml")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    chunk = b"<item><title>more</title></item>" * 64
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        handler.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")


GZIP_BOMB = gzip.compress(b"<rss>" + b" " * (200 * 1024 * 1024), compresslevel=9)  # ~200 KB

CASES = {
    "slow drip (slowloris)": (Route(raw=slow_drip), "timed out"),
    "gzip bomb": (Route(body=GZIP_BOMB, headers={"Content-Encoding": "gzip",
                                                 "Content-Type": "application/rss+xml"}),
                  "size cap"),
    "connection reset mid-body": (Route(raw=reset_mid_body), "connection"),
    "endless chunked body": (Route(raw=endless_chunks), "size cap"),
    "XXE to a local file": (
        Route(body=b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
              b'<rss version="2.0"><channel><title>&x;</title><item><title>&x;</title>'
              b"<link>http://127.0.0.1/xxe</link></item></channel></rss>"),
        "entities",
    ),
    "redirect to ftp://": (Route(302, b"", {"Location": "ftp://127.0.0.1/feed.xml"}, conditional=False),
                           "not followed"),
    "429 with Retry-After": (Route(429, b"slow down", {"Retry-After": "3600"}), "HTTP 429"),
    "503 with Retry-After": (Route(503, b"maintenance", {"Retry-After": "120"}), "HTTP 503"),
}  # fmt: skip


def _serve_good_source(site) -> None:
    site.routes["/good.xml"] = Route(body=rss([{"title": "Good", "link": site.url("good.html")}]))
    site.routes["/good.html"] = Route(body=article_html("Good news", filler(GOOD_TEXT)))


@pytest.mark.parametrize("case", list(CASES))
def test_a_hostile_source_fails_alone_in_bounded_memory(case, site, make_monitor):
    route, expected = CASES[case]
    site.routes["/bad.xml"] = route
    _serve_good_source(site)
    monitor = make_monitor(
        fetch={**FAST_FETCH, "timeout": 3, "max_bytes": 2 * 1024 * 1024, "retries": 0},
        sources=[{"name": "Bad", "url": site.url("bad.xml")},
                 {"name": "Good", "url": site.url("good.xml")}],
    )  # fmt: skip
    process = psutil.Process(os.getpid())
    before = process.memory_info().rss

    reports = poll(monitor)

    grown_mb = (process.memory_info().rss - before) / 1e6
    assert grown_mb < 150, f"memory grew by {grown_mb:.0f} MB"
    assert (reports["Good"].status, reports["Good"].new) == ("ok", 1)
    assert reports["Bad"].status == "failed"
    assert expected in reports["Bad"].error, reports["Bad"].error
    assert "root:" not in reports["Bad"].error  # no file contents leak into errors
    with monitor.archive.reader() as session:
        bad = session.execute(select(Source).where(Source.name == "Bad")).scalar_one()
        assert bad.consecutive_failures == 1 and bad.last_error
        assert session.execute(select(Article.title)).scalars().all() == ["Good news"]


def test_a_feed_of_50000_entries_takes_only_the_newest_and_stays_bounded(site, make_monitor):
    items = [{"title": f"Entry {i}", "link": site.url(f"e/{i}.html"), "guid": str(i),
              "description": "Short."} for i in range(50_000)]  # fmt: skip
    site.routes["/huge.xml"] = Route(body=rss(items))
    monitor = make_monitor(
        fetch={**FAST_FETCH, "max_bytes": 20 * 1024 * 1024, "max_entries": 100,
               "fetch_articles": False},
        sources=[{"name": "Huge", "url": site.url("huge.xml")}],
    )  # fmt: skip
    process = psutil.Process(os.getpid())
    before = process.memory_info().rss

    report = poll(monitor)["Huge"]

    assert (process.memory_info().rss - before) / 1e6 < 300
    assert report.status == "ok" and report.entries == 100 and report.new == 100  # the newest
    with monitor.archive.reader() as session:
        assert session.execute(select(func.count()).select_from(Article)).scalar_one() == 100


def test_invalid_utf8_and_duplicate_guids_store_each_story_once(site, make_monitor):
    body = (
        b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        b"<item><title>Broken \xff\xfe bytes in a title</title><link>" + site.url("a.html").encode()
        + b"</link><guid>same</guid></item>"
        b"<item><title>Same guid again</title><link>" + site.url("a.html").encode()
        + b"</link><guid>same</guid></item></channel></rss>"
    )  # fmt: skip
    site.routes["/odd.xml"] = Route(body=body, headers={"Content-Type": "application/rss+xml"})
    site.routes["/a.html"] = Route(body=article_html("A story", filler(GOOD_TEXT)))
    monitor = make_monitor(sources=[{"name": "Odd", "url": site.url("odd.xml")}])

    report = poll(monitor)["Odd"]
    again = poll(monitor)["Odd"]

    assert report.status == "ok" and report.new == 1 and again.new == 0
    with monitor.archive.reader() as session:
        assert session.execute(select(func.count()).select_from(Article)).scalar_one() == 1
