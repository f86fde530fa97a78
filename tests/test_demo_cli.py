"""The newcomer's path, as real subprocesses: demo, then search, show and sources on its archive."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from monitor.demo.site import load_stories
from tests.conftest import REPO
from tests.processes import newsmon

ALERT_FILES: dict[str, Path] = {}  # demo archive URL → the file its alert channels wrote


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def demo_db(request, tmp_path_factory) -> str:
    """The demo, run as a newcomer would, into a SQLite file or a PostgreSQL schema."""
    folder = tmp_path_factory.mktemp("demo")
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'demo.db'}"
        ALERT_FILES[url] = folder / "demo-alerts.jsonl"
    else:
        url = request.getfixturevalue("pg_module_url")
        ALERT_FILES[url] = folder / "data" / "demo-alerts.jsonl"  # ./data/ of its working folder
    done = newsmon("demo", "--db", url, "--config", str(REPO / "config.yaml"), cwd=folder)
    assert "Broken Feed" in done.stdout and "not a feed" in done.stdout
    assert "Alerts your routes sent now" in done.stdout
    assert "Digest of japan-morning due" in done.stdout
    return url


def test_demo_stores_and_tags_what_its_stories_intend(demo_db):
    rows = json.loads(
        newsmon("search", "--db", demo_db, "--format", "json", "--limit", "500").stdout
    )
    assert len(rows) >= 30
    assert {"id", "url", "title", "source", "published", "topics"} <= set(rows[0])
    by_title = {row["title"]: row for row in rows}
    _outlets, stories = load_stories()
    mismatches = []
    for story in stories:
        row = by_title.get(story.title)
        if row is None:  # merged into its syndicated original
            assert story.syndicated == "a", story.slug
            continue
        if set(row["topics"]) != set(story.expect):
            mismatches.append((story.slug, row["topics"], story.expect))
    assert mismatches == []
    for topic in ("ev_supply_chain", "asean_japan", "eu_japan"):
        assert any(topic in row["topics"] for row in rows), topic


def test_syndicated_copies_become_one_article_or_one_story(demo_db):
    rows = json.loads(
        newsmon("search", "--db", demo_db, "--format", "json", "--limit", "500").stdout
    )
    merged = [row for row in rows if len(row["sources"]) == 2]
    assert [sorted(r["sources"]) for r in merged] == [["Asia Pacific Desk", "EV Supply Wire"]]
    assert "/evwire/" in merged[0]["url"]
    passport = [row for row in rows if "battery passport" in row["title"]]
    assert len(passport) == 2 and passport[0]["story_id"] == passport[1]["story_id"]


def test_demo_sends_one_alert_per_wanted_story_naming_every_outlet(demo_db):
    rows = json.loads(
        newsmon("search", "--db", demo_db, "--format", "json", "--limit", "500").stdout
    )
    wanted = {row["story_id"] for row in rows if row["scores"].get("ev_supply_chain", 0) >= 2}
    alerts_file = ALERT_FILES[demo_db]
    records = [json.loads(line) for line in alerts_file.read_text().splitlines()]
    assert {r["route"] for r in records} == {"ev-now"}
    alerted = [r["message"]["stories"][0]["story_id"] for r in records]
    assert sorted(alerted) == sorted(wanted)  # one per story, none missing
    passport = next(r for r in records if "battery passport" in r["headline"])
    outlets = {o["name"] for o in passport["message"]["stories"][0]["outlets"]}
    assert outlets == {"Brussels Brief", "EV Supply Wire"}
    assert (
        "also at EV Supply Wire" in passport["text"] or "also at Brussels Brief" in passport["text"]
    )


def test_export_streams_everything_and_stats_add_up(demo_db, tmp_path):
    everything = json.loads(
        newsmon("search", "--db", demo_db, "--format", "json", "--limit", "500").stdout
    )
    lines = newsmon("export", "--db", demo_db).stdout.splitlines()
    exported = [json.loads(line) for line in lines]
    assert sorted(r["id"] for r in exported) == sorted(r["id"] for r in everything)
    assert all(r["text"] for r in exported if r["extraction"] == "full")
    out = tmp_path / "eu.csv"
    done = newsmon(
        "export", "--db", demo_db, "--topic", "eu_japan", "--format", "csv", "-o", str(out)
    )
    with out.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and all("eu_japan" in row["topics"] for row in rows)
    assert f"{len(rows)} articles exported" in done.stderr
    per_topic = json.loads(
        newsmon("stats", "--db", demo_db, "--by", "week", "--format", "json").stdout
    )
    eu = sum(r["articles"] for r in per_topic if r["topic"] == "eu_japan")
    assert eu == len(rows)
    assert all(r["period"] <= "2026-11-23" for r in per_topic)  # weeks named by their Monday
    table = newsmon("stats", "--db", demo_db, "--per", "source", "--by", "month").stdout
    assert "2026-11" in table and "total" in table


def test_search_pages_with_a_cursor(demo_db):
    first = newsmon("search", "--db", demo_db, "Japan", "--limit", "3", "--format", "json")
    cursor = first.stderr.split("--cursor ")[1].split()[0]
    second = newsmon("search", "--db", demo_db, "Japan", "--limit", "3", "--format", "json",
                     "--cursor", cursor)  # fmt: skip
    ids = [r["id"] for r in json.loads(first.stdout) + json.loads(second.stdout)]
    whole = json.loads(
        newsmon("search", "--db", demo_db, "Japan", "--limit", "6", "--format", "json").stdout
    )
    assert ids == [r["id"] for r in whole]


def test_fallbacks_are_stored_and_marked(demo_db):
    rows = json.loads(
        newsmon("search", "--db", demo_db, "--format", "json", "--limit", "500").stdout
    )
    extraction = {row["title"]: row["extraction"] for row in rows}
    assert extraction["European cathode plant delayed as EV demand cools"] == "feed"
    assert extraction["Cobalt refiner in Indonesia starts battery-grade sulphate line"] == "failed"


def test_search_filters_formats_and_show(demo_db):
    nickel = json.loads(
        newsmon(
            "search",
            "nickel AND Japan",
            "--db",
            demo_db,
            "--format",
            "json",
            "--topic",
            "ev_supply_chain",
        ).stdout
    )
    assert nickel and all("ev_supply_chain" in row["topics"] for row in nickel)
    assert any("[" in row["snippet"] for row in nickel)  # highlighted match
    csv_out = newsmon(
        "search", "--db", demo_db, "--format", "csv", "--limit", "3"
    ).stdout.splitlines()
    assert csv_out[0].startswith("id,") and len(csv_out) == 4
    newest = json.loads(
        newsmon("search", "--db", demo_db, "--format", "json", "--limit", "5").stdout
    )
    dates = [row["published"] or row["fetched"] for row in newest]
    assert dates == sorted(dates, reverse=True)
    shown = newsmon("show", str(nickel[0]["id"]), "--db", demo_db).stdout
    assert nickel[0]["title"][:30] in shown and "ev_supply_chain" in shown and "text@" in shown


def test_sources_shows_health(demo_db):
    table = json.loads(newsmon("sources", "--db", demo_db, "--format", "json").stdout)
    broken = next(row for row in table if row["name"] == "Broken Feed")
    assert broken["failures"] == 1 and "not a feed" in broken["last_error"]


def test_malformed_search_query_is_one_clear_line(demo_db):
    done = newsmon("search", '"unclosed', "--db", demo_db, check=False)
    assert done.returncode != 0
    assert "unclosed quotation mark" in done.stderr and "Traceback" not in done.stderr


def test_config_check_points_at_the_line(tmp_path):
    bad = tmp_path / "config.yaml"
    bad.write_text("sources:\n  - name: X\n    url: not-a-url\n")
    done = newsmon("config", "check", "--config", str(bad), check=False)
    assert done.returncode == 2
    assert f"{bad}:3: sources[0].url: not an http(s) URL" in done.stderr
