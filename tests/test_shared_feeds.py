"""Real feeds nobody here wrote (../shared/eval/feeds), served locally through the real fetch path.

rss-parser's publisher feeds must yield the entries its expected outputs list;
feedparser's charset cases, served with their own HTTP headers, must be decoded
as their ``Expect:`` lines demand. Cases without ``Header:`` lines are the ones
feedparser's own suite parses as local files, with no HTTP metadata; they are
served here with no Content-Type at all, as a bare file server would.
"""

from __future__ import annotations

import datetime
import html
import json
import re
import time
from pathlib import Path

import pytest
from sqlalchemy import select

import spiders.feeds
from monitor.demo.server import Route
from storage.models import Article, ArticleSource, Source
from tests.conftest import SHARED, poll

FEEDS = SHARED / "eval" / "feeds"
RSS_PARSER = FEEDS / "rss-parser" / "test"
FEEDPARSER = FEEDS / "feedparser" / "tests"
pytestmark = pytest.mark.skipif(
    not FEEDS.is_dir(), reason="../shared/eval/feeds is absent (it is not part of a user's clone)"
)


def _norm(text: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text or "")).split())


def _expected_titles(output: Path) -> list[str]:
    raw = output.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # output/encoding.json is itself latin-1
    items = json.loads(text)["feed"]["items"]
    # An entry with no title, link or id carries nothing to store; newsmon counts but skips it.
    return [
        _norm(i.get("title", ""))
        for i in items
        if i.get("title") or i.get("link") or i.get("guid") or i.get("id")
    ]


def _titles_match(expected: str, got: str) -> bool:
    if "\ufffd" in expected:  # the peer mis-decoded latin-1: treat U+FFFD as a wildcard
        pattern = ".".join(re.escape(part) for part in expected.split("\ufffd"))
        return re.fullmatch(pattern, got) is not None
    return expected == got


def test_rss_parser_publisher_feeds(site, make_monitor):
    inputs = sorted((RSS_PARSER / "input").iterdir())
    for path in inputs:
        site.routes[f"/rp/{path.name}"] = Route(
            body=path.read_bytes(), headers={"Content-Type": "application/xml"}
        )
    monitor = make_monitor(
        fetch={"fetch_articles": False, "max_entries": 1000, "download_delay": 0,
               "autothrottle": False, "concurrent_per_domain": 16, "retries": 0},
        sources=[{"name": p.name, "url": site.url(f"rp/{p.name}")} for p in inputs],
    )  # fmt: skip

    reports = poll(monitor)

    assert reports["unrecognized.rss"].status == "failed"
    assert "not a feed" in reports["unrecognized.rss"].error
    mismatches = []
    with monitor.archive.reader() as session:
        for path in inputs:
            output = RSS_PARSER / "output" / (path.stem + ".json")
            if not output.exists():
                continue
            expected = _expected_titles(output)
            source_id = session.execute(
                select(Source.id).where(Source.name == path.name)
            ).scalar_one()
            stored = session.execute(
                select(Article.title)
                .join(ArticleSource, ArticleSource.article_id == Article.id)
                .where(ArticleSource.source_id == source_id)
            ).scalars()
            got = sorted(_norm(t) for t in stored)
            assert reports[path.name].status == "ok", (path.name, reports[path.name].error)
            assert reports[path.name].entries >= len(expected), path.name
            assert len(got) == len(expected), path.name
            unmatched = list(got)
            for title in expected:
                hit = next((g for g in unmatched if _titles_match(title, g)), None)
                if hit is None:
                    mismatches.append((path.name, title))
                else:
                    unmatched.remove(hit)
    assert mismatches == []


def _case_meta(data: bytes) -> tuple[str, dict[str, str]]:
    for encoding in ("utf-8", "utf-16", "utf-32", "utf-16-be", "utf-32-be", "latin-1"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "Expect:" in text:
            break
    expect = re.search(r"Expect:\s*(.*)", text).group(1).strip()
    headers = dict(
        (name.strip(), value.strip())
        for name, value in (line.split(":", 1) for line in re.findall(r"Header:\s*(.*)", text))
    )
    return expect, headers


def test_feedparser_charset_cases(site, make_monitor, monkeypatch):
    cases = sorted((FEEDPARSER / "encoding").glob("*.xml"))
    expectations = {}
    for path in cases:
        data = path.read_bytes()
        expect, headers = _case_meta(data)
        site.routes[f"/fp/{path.name}"] = Route(body=data, headers=headers, conditional=False)
        expectations[site.url(f"fp/{path.name}")] = (path.name, expect)
    parsed = {}
    real_parse = spiders.feeds.feedparser.parse

    def recording_parse(stream, **kwargs):
        result = real_parse(stream, **kwargs)
        parsed[kwargs["response_headers"]["content-location"]] = result
        return result

    monkeypatch.setattr(spiders.feeds.feedparser, "parse", recording_parse)
    # Parsing in a thread (not the worker processes) so the recording wrapper sees each result.
    monitor = make_monitor(
        fetch={"fetch_articles": False, "download_delay": 0, "autothrottle": False,
               "concurrent_per_domain": 16, "retries": 0, "extract_processes": 0},
        sources=[{"name": name, "url": url} for url, (name, _e) in expectations.items()],
    )  # fmt: skip

    poll(monitor)

    failures = []
    for url, (name, expect) in expectations.items():
        result = parsed.get(url)
        context = {"time": time, "datetime": datetime, "feedparser": spiders.feeds.feedparser}
        ok = result is not None and eval(expect, context, result)
        if not ok:
            failures.append((name, expect, result and result.get("encoding")))
    assert failures == []
