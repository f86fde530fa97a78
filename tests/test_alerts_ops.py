"""Operating alerts: the CLI, config errors, long digests, and a daemon killed with SIGKILL."""

from __future__ import annotations

import json
import signal
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from monitor.alerts.message import Message, Outlet, StoryItem, TopicMatch
from monitor.config import load_config
from monitor.demo.webhook import Reply
from monitor.errors import ConfigError
from monitor.poller import Monitor
from storage.db import Archive
from storage.models import Alert, Story
from storage.outbox import claim_due, owe_alert
from tests.alerting import NICKEL, TOPICS, Clock, alert_rows, serve_feed, slack_alerts
from tests.conftest import poll, write_config
from tests.mailserver import free_port
from tests.processes import newsmon, start_daemon, wait_until


def test_alerts_test_reports_success_and_names_each_failure(tmp_path, slack):
    alerts = {
        "channels": {
            "good": {"type": "slack", "webhook_url": slack.url},
            "wrong-path": {"type": "slack", "webhook_url": slack.url.replace("secret", "nope")},
            "refused": {"type": "email", "host": "127.0.0.1", "port": free_port(),
                        "security": "none", "from": "n@example.org", "to": "a@example.org"},
            "no-dns": {"type": "slack", "webhook_url": "http://newsmon-no-such-host.invalid/x"},
        },
        "routes": {"r": {"channels": ["good"]}},
    }  # fmt: skip
    config = write_config(tmp_path, topics=TOPICS, alerts=alerts)

    done = newsmon("alerts", "test", "--config", str(config), check=False)

    assert done.returncode == 1
    lines = {line.split(":")[0][2:]: line for line in done.stdout.splitlines() if ":" in line}
    assert "delivered" in lines["good"]
    assert "404: no_service" in lines["wrong-path"]
    assert "connection refused" in lines["refused"]
    assert "DNS lookup failed" in lines["no-dns"]
    assert "secret" not in done.stdout and "Traceback" not in done.stdout + done.stderr
    assert len(slack.accepted) == 1
    assert slack.accepted[0]["blocks"][0]["type"] == "header"

    only_route = newsmon("alerts", "test", "r", "--config", str(config))
    assert only_route.returncode == 0 and len(slack.accepted) == 2


def test_alerts_list_and_retry_from_the_command_line(site, slack, build):
    serve_feed(site, "wire.xml", [("deal", "Nickel refinery deal signed", NICKEL)])
    monitor = build(
        [{"name": "Wire", "url": site.url("wire.xml")}], slack_alerts(slack.url), Clock()
    )
    poll(monitor)
    slack.script.append(Reply(400, "invalid_blocks"))
    assert monitor.alerts.deliver_now().dead == 1
    config = str(monitor.config.path)

    listed = json.loads(newsmon("alerts", "list", "--status", "dead", "--format", "json",
                                "--config", config).stdout)  # fmt: skip
    assert [(r["status"], r["about"]) for r in listed] == [("dead", "Nickel refinery deal signed")]
    assert "invalid_blocks" in listed[0]["error"]

    retried = newsmon("alerts", "retry", "--dead", "--config", config)
    assert retried.returncode == 0 and "1 alerts" in retried.stdout
    monitor.alerts.dispatcher.clock = lambda: datetime.now(UTC)
    assert monitor.alerts.deliver_now().sent == 1
    bad = newsmon("alerts", "list", "--status", "lost", "--config", config, check=False)
    assert bad.returncode == 2 and "pending, sent, dead" in bad.stderr


@pytest.mark.parametrize(
    ("alerts", "where", "message"),
    [
        ({"channels": {"c": {"type": "console"}}, "routes": {"r": {"channels": ["slack"]}}},
         "alerts.routes.r.channels[0]", "no channel named 'slack'"),
        ({"channels": {"c": {"type": "console"}},
          "routes": {"r": {"channels": ["c"], "topics": ["evs"]}}},
         "alerts.routes.r.topics[0]", "no topic named 'evs'"),
        ({"channels": {"c": {"type": "console"}},
          "routes": {"r": {"channels": ["c"], "mode": "digest", "cron": "0 25 * * *"}}},
         "alerts.routes.r", "cron '0 25 * * *'"),
        ({"channels": {"c": {"type": "console"}},
          "routes": {"r": {"channels": ["c"], "mode": "digest", "cron": "0 8 * * *",
                           "timezone": "Asia/Tokio"}}},
         "alerts.routes.r.timezone", "unknown time zone 'Asia/Tokio'"),
        ({"channels": {"m": {"type": "email", "host": "h", "from": "x", "to": "a@b.c"}}},
         "alerts.channels.m.email.from", "'x' is not an email address"),
        ({"channels": {"m": {"type": "email", "host": "h", "from": "a@b.c", "to": "a@b.c",
                             "subject": "{title} {body}"}}},
         "alerts.channels.m.email.subject", "unknown placeholder {body}"),
        ({"channels": {"s": {"type": "pager"}}}, "alerts.channels.s", "'pager'"),
    ],
)  # fmt: skip
def test_alert_config_errors_name_the_line_and_key(tmp_path, alerts, where, message):
    path = write_config(tmp_path, topics=TOPICS, alerts=alerts)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    text = str(raised.value)
    assert "config.yaml:" in text and where in text and message in text, text
    line = int(text.split("config.yaml:")[1].split(":")[0])
    assert line > 1


def long_digest(count: int) -> Message:
    stories = tuple(
        StoryItem(
            story_id=i, title=f"Battery story {i} <with> & markup", url=f"https://example.org/{i}|x",
            published="2026-11-30T08:00+00:00",
            outlets=(Outlet("Wire", f"https://example.org/{i}"), Outlet("Daily", "https://d.example/")),
            topics=(TopicMatch("ev" if i % 3 else "eu", 3.0, ("battery", "cathode")),),
            snippet="A long snippet. " * 30,
        )
        for i in range(count)
    )  # fmt: skip
    return Message("digest", "morning", stories, since="2026-11-29T23:00+00:00")


def test_a_long_slack_digest_is_split_within_limits_and_resumes_after_a_failed_part(
    tmp_path, slack
):
    path = write_config(tmp_path, topics=TOPICS, alerts=slack_alerts(slack.url))
    clock = Clock()
    monitor = Monitor(load_config(path), clock=clock)
    try:
        with monitor.archive.session() as session:
            owe_alert(session, dedup_key="morning|desk|digest:x", route="morning", channel="desk",
                      kind="digest", now=clock.now, payload={"message": long_digest(120).to_json()})  # fmt: skip
        slack.script.extend([Reply(), Reply(503, "service_unavailable")])
        first = monitor.alerts.deliver_now()
        assert first.failed == 1
        [row] = alert_rows(monitor)
        assert (row.status, row.parts_sent) == ("pending", 1)
        clock.now = row.next_attempt_at
        assert monitor.alerts.deliver_now().sent == 1
    finally:
        monitor.close()
    headers = [p.payload["blocks"][0]["text"]["text"] for p in slack.posts]
    total = len(slack.posts) - 1  # one part was refused once
    assert total >= 3
    accepted = [h for h, p in zip(headers, slack.posts, strict=True) if p.accepted]
    assert accepted == [f"morning: 120 new stories since 2026-11-29 23:00 UTC ({n}/{total})"
                        for n in range(1, total + 1)]  # fmt: skip
    text = "\n".join(
        b["text"]["text"] for p in slack.accepted for b in p["blocks"] if b["type"] == "section"
    )
    assert all(f"Battery story {i} &lt;with&gt; &amp; markup" in text for i in range(120))
    assert "<with>" not in text and "%7Cx|" in text  # a | in a URL cannot break the link


def test_leases_of_a_dead_dispatcher_are_taken_back_at_start(tmp_path, slack):
    path = write_config(tmp_path, topics=TOPICS, alerts=slack_alerts(slack.url))
    archive = Archive(load_config(path).resolve_storage_url())
    now = datetime.now(UTC)
    with archive.session() as session:
        session.add(Story(title_key="x", first_seen_at=now))
        session.flush()
        owe_alert(session, dedup_key="k", route="ev-now", channel="desk", kind="digest", now=now,
                  payload={"message": long_digest(1).to_json()})  # fmt: skip
    with archive.session() as session:
        assert (
            len(
                claim_due(
                    session,
                    owner="crashed:1",
                    now=now,
                    lease_until=now.replace(year=2100),
                    limit=10,
                )
            )
            == 1
        )
    archive.close()
    monitor = Monitor(load_config(path))
    try:
        assert monitor.alerts.deliver_now().sent == 0  # still leased to the dead owner
        monitor.alerts.start()
        assert monitor.alerts.deliver_now().sent == 1
    finally:
        monitor.close()


@pytest.mark.slow
def test_sigkill_after_tags_are_stored_loses_no_alert_and_sends_none_twice(tmp_path, site, slack):
    stories = [
        (f"s{i}", f"Cathode plant {i} breaks ground", NICKEL + f" Site {i}.") for i in range(5)
    ]
    serve_feed(site, "wire.xml", stories)
    alerts = slack_alerts(slack.url)
    sections = {
        "schedule": {"min_interval": 1, "jitter": 0},
        "sources": [{"name": "Wire", "url": site.url("wire.xml"), "interval": 3600}],
        "topics": TOPICS,
    }
    config = write_config(
        tmp_path,
        **sections,
        alerts={**alerts, "dispatch": {"interval": 3600, "sweep_after_poll": False}},
    )
    archive_url = load_config(config).resolve_storage_url()

    def rows() -> list[Alert]:
        archive = Archive(archive_url, migrate=False)
        try:
            with archive.reader() as session:
                return list(session.execute(select(Alert)).scalars())
        except Exception:
            return []
        finally:
            archive.close()

    first = start_daemon(config)
    try:
        assert wait_until(lambda: len(rows()) == 5), "the daemon did not store the five alerts"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    assert {r.status for r in rows()} == {"pending"} and slack.posts == []

    write_config(tmp_path, **sections, alerts={**alerts, "dispatch": {"interval": 0.5}})
    second = start_daemon(config)
    try:
        assert wait_until(lambda: len(slack.accepted) >= 5), "owed alerts were not delivered"
        time.sleep(2)  # several more sweeps: nothing may go out again
    finally:
        second.send_signal(signal.SIGTERM)
        output = second.communicate(timeout=60)[0]
    assert second.returncode == 0, output
    titles = sorted(
        next(b["text"]["text"] for b in p["blocks"] if b["type"] == "section")
        .split("|")[1]
        .split(">")[0]
        for p in slack.accepted
    )
    assert titles == sorted(title for _slug, title, _s in stories)
    assert {r.status for r in rows()} == {"sent"}


def test_the_daemon_sends_an_alert_right_after_the_poll_that_owed_it(tmp_path, site, slack):
    import asyncio

    from monitor import daemon as daemon_module
    from tests import reactor

    serve_feed(site, "wire.xml", [("deal", "Nickel refinery deal signed", NICKEL)])
    path = write_config(
        tmp_path, schedule={"min_interval": 1, "jitter": 0},
        sources=[{"name": "Wire", "url": site.url("wire.xml"), "interval": 3600}], topics=TOPICS,
        alerts={**slack_alerts(slack.url), "dispatch": {"interval": 3600}},
    )  # fmt: skip
    monitor = Monitor(load_config(path))
    daemon = daemon_module.Daemon(monitor)
    holder: dict[str, asyncio.Event] = {}

    async def main() -> None:
        holder["stop"] = asyncio.Event()
        await daemon.run(holder["stop"])

    finished = reactor.submit(main)
    try:
        # The sweep interval is an hour: only the nudge after the poll can send it this soon.
        assert wait_until(lambda: len(slack.accepted) == 1, timeout=30)
    finally:
        reactor.run(lambda: _set(holder["stop"]))
        finished.result(30)
        monitor.close()


async def _set(event) -> None:
    event.set()
