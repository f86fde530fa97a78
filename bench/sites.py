"""Synthetic news sites for the benchmarks: many feeds over many loopback host names.

Politeness is per host, so the feeds are spread over 50 addresses in 127.0.0.0/8
(all of which reach the loopback interface on Linux). Content is generated
deterministically from a seed. Feeds carry 20 entries, each with a short
description and, as WordPress and many publishers' feeds do, the article body in
``content:encoded`` (~45 KB a feed); pages are ~22 KB of mostly boilerplate
around a ~3,000-character article.
"""

from __future__ import annotations

import functools
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

WORDS = [
    "government",
    "ministry",
    "officials",
    "said",
    "agreement",
    "investment",
    "plant",
    "production",
    "market",
    "prices",
    "exports",
    "imports",
    "quarter",
    "company",
    "shares",
    "analysts",
    "percent",
    "billion",
    "million",
    "tonnes",
    "capacity",
    "supply",
    "chain",
    "demand",
    "growth",
    "economy",
    "policy",
    "minister",
    "president",
    "trade",
    "talks",
    "cooperation",
    "region",
    "development",
    "infrastructure",
    "energy",
    "project",
    "financing",
    "bank",
    "report",
    "data",
    "forecast",
    "battery",
    "nickel",
    "lithium",
    "cobalt",
    "graphite",
    "cathode",
    "anode",
    "refinery",
    "smelter",
    "mining",
    "electric",
    "vehicle",
    "automaker",
    "factory",
    "Japan",
    "Indonesia",
    "Vietnam",
    "Thailand",
    "Philippines",
    "Malaysia",
    "Europe",
    "Brussels",
    "Tokyo",
    "Jakarta",
    "Hanoi",
    "Bangkok",
    "Manila",
    "summit",
    "partnership",
    "security",
    "defence",
    "climate",
    "weather",
    "football",
    "league",
    "season",
    "coach",
    "match",
    "election",
    "parliament",
    "budget",
    "inflation",
    "rates",
]
HOSTS = [f"127.0.0.{i}" for i in range(2, 52)]


def sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(12, 24))]
    return " ".join(words).capitalize() + "."


@functools.lru_cache(maxsize=20000)
def article_page(feed: int, entry: int) -> bytes:
    """A page shaped like a real news page: ~30 KB, mostly navigation and boilerplate."""
    rng = random.Random(feed * 1000 + entry)
    title = f"Report {feed}-{entry}: " + " ".join(rng.choice(WORDS) for _ in range(7))
    paragraphs = "".join(
        "<p>" + " ".join(sentence(rng) for _ in range(4)) + "</p>" for _ in range(6)
    )
    menu = "".join(
        f'<li><a href="/section/{i}">{rng.choice(WORDS).title()} {i}</a></li>' for i in range(120)
    )
    related = "".join(
        f'<li><a href="/a/{feed}/{(entry + i) % 20}.html">{sentence(rng)}</a></li>'
        for i in range(15)
    )
    script = "window.__STATE__ = " + repr({f"k{i}": sentence(rng) for i in range(25)}) + ";"
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        '<meta name="author" content="Bench Writer">'
        f'<meta property="og:title" content="{title}"><style>body{{font:16px serif}}</style>'
        f"<script>{script}</script></head><body><header><nav><ul>{menu}</ul></nav></header>"
        f'<main><article><h1>{title}</h1><p class="byline">By Bench Writer</p>{paragraphs}'
        f"</article><aside><h3>Related</h3><ul>{related}</ul></aside></main>"
        '<section class="newsletter"><form><input name="email"><button>Subscribe</button>'
        "</form></section><footer><p>Copyright Bench News. All rights reserved.</p>"
        f"<ul>{menu}</ul></footer></body></html>"
    ).encode()


def feed_url(feed: int) -> str:
    return f"http://{HOSTS[feed % len(HOSTS)]}:{{port}}/feeds/{feed}.xml"


@functools.lru_cache(maxsize=4096)
def feed_document(feed: int, entries: int, base: str) -> bytes:
    now = datetime(2026, 11, 24, 12, tzinfo=UTC)
    items = []
    for entry in range(entries):
        rng = random.Random(feed * 1000 + entry)
        title = f"Report {feed}-{entry}: " + " ".join(rng.choice(WORDS) for _ in range(7))
        when = format_datetime(now - timedelta(minutes=entry * 7))
        body = "".join("<p>" + " ".join(sentence(rng) for _ in range(3)) + "</p>" for _ in range(4))
        items.append(
            f"<item><title>{title}</title><link>{base}/a/{feed}/{entry}.html</link>"
            f"<guid>{base}/a/{feed}/{entry}.html</guid><pubDate>{when}</pubDate>"
            f"<description>{sentence(rng)}</description>"
            f"<content:encoded><![CDATA[{body}]]></content:encoded></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        f"<title>Feed {feed}</title><link>{base}/</link><description>bench</description>"
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def serve(port: int, entries: int) -> None:
    """Child process: one threaded server per loopback host, all on ``port``."""
    from monitor.demo.server import Route, SiteServer

    class BenchServer(SiteServer):
        def resolve(self, path: str) -> Route | None:
            parts = path.strip("/").split("/")
            base = self.base_url
            if parts[0] == "feeds" and len(parts) == 2:
                feed = int(parts[1].removesuffix(".xml"))
                return Route(
                    body=feed_document(feed, entries, base),
                    headers={"Content-Type": "application/rss+xml"},
                )
            if parts[0] == "a" and len(parts) == 3:
                page = article_page(int(parts[1]), int(parts[2].removesuffix(".html")))
                return Route(body=page, headers={"Content-Type": "text/html; charset=utf-8"})
            return None

    servers = [BenchServer(host=host, port=port).start() for host in HOSTS]
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        for server in servers:
            server.stop()


def start_server(port: int, entries: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", f"from bench.sites import serve; serve({port}, {entries})"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        raise RuntimeError("benchmark server did not start")
    return process
