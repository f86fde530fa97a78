"""The rule tools from the command line: eval on the dev set, classify, reclassify."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import REPO, SHARED
from tests.processes import newsmon

DEV = SHARED / "eval" / "classify" / "dev.jsonl"


@pytest.mark.skipif(
    not DEV.exists(), reason="../shared/eval/classify is absent (not in a user's clone)"
)
def test_default_rules_reach_the_target_on_the_dev_set():
    report = json.loads(newsmon("rules", "eval", str(DEV), "--format", "json").stdout)
    assert set(report["topics"]) == {"ev_supply_chain", "asean_japan", "eu_japan"}
    for topic, counts in report["topics"].items():
        assert counts["f1"] >= 0.95, (topic, counts)
    assert set(report["micro"]) == {"tp", "fp", "fn", "precision", "recall", "f1"}


def test_rules_check_and_classify(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"topics": {"bad": {"query": "nickel AND (cobalt"}}}))
    done = newsmon("rules", "check", "--config", str(config), check=False)
    assert done.returncode == 2 and "topic 'bad', column" in done.stderr and "^" in done.stderr
    result = json.loads(
        newsmon(
            "classify", "--format", "json", "--title", "EU–Japan summit",
            "--text", "Leaders of the EU and Japan met in Tokyo.",
        ).stdout
    )  # fmt: skip
    eu = next(r for r in result if r["topic"] == "eu_japan")
    assert eu["tagged"] and {"term": "EU-Japan", "field": "title", "start": 0, "end": 8,
                             "matched": "EU–Japan"} in eu["hits"]  # fmt: skip


def test_reclassify_follows_changed_rules(tmp_path, storage_url):
    db = storage_url  # SQLite and PostgreSQL
    newsmon("demo", "--db", db, "--config", str(REPO / "config.yaml"), cwd=tmp_path)
    before = json.loads(
        newsmon("search", "--db", db, "--format", "json", "--topic", "eu_japan").stdout
    )
    assert before
    narrowed = yaml.safe_load((REPO / "config.yaml").read_text())
    narrowed["topics"]["eu_japan"]["query"] = '"Digital Partnership"'
    narrowed["topics"]["eu_japan"]["threshold"] = 1
    config = tmp_path / "narrow.yaml"
    config.write_text(yaml.safe_dump(narrowed, allow_unicode=True))
    summary = newsmon(
        "reclassify", "--config", str(config), "--db", db, "--topic", "eu_japan"
    ).stdout
    assert "removed" in summary
    after = json.loads(
        newsmon("search", "--db", db, "--format", "json", "--topic", "eu_japan").stdout
    )
    assert [row["title"] for row in after] == [
        "EU-Japan Digital Partnership Council agrees on data flows and chips"
    ]
    ev = json.loads(
        newsmon("search", "--db", db, "--format", "json", "--topic", "ev_supply_chain").stdout
    )
    assert ev  # other topics untouched


def test_classify_url_and_adhoc_sources_go_through_the_real_fetch_path(site, tmp_path):
    from monitor.demo.server import Route
    from tests.conftest import article_html, filler, rss

    site.routes["/story.html"] = Route(
        body=article_html("EU-Japan summit", filler("Leaders of the EU and Japan met in Tokyo."))
    )
    site.routes["/feed.xml"] = Route(body=rss([{"title": "Story", "link": site.url("story.html")}]))
    site.routes["/home.html"] = Route(
        body=f'<html><head><link rel="alternate" type="application/rss+xml" href="{site.url("feed.xml")}">'
        "</head><body>Home</body></html>".encode(),
        headers={"Content-Type": "text/html"},
    )
    result = json.loads(
        newsmon("classify", "--url", site.url("story.html"), "--format", "json").stdout
    )
    assert next(r for r in result if r["topic"] == "eu_japan")["tagged"]
    db = f"sqlite:///{tmp_path / 'adhoc.db'}"
    summary = newsmon("run", "--once", "--source", site.url("home.html"), "--db", db).stdout
    assert "1 new articles" in summary
    rows = json.loads(newsmon("search", "--db", db, "--format", "json").stdout)
    assert [r["title"] for r in rows] == ["EU-Japan summit"]
