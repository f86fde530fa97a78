"""Alerts end to end against real servers: a feed server, aiosmtpd, and a Slack stand-in."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from monitor.demo.server import Route
from monitor.demo.webhook import Reply, WebhookReceiver
from storage.models import DigestItem
from tests.alerting import NICKEL, Clock, alert_rows, section_texts, serve_feed, slack_alerts
from tests.conftest import article_html, filler, poll, rss
from tests.mailserver import MailServer, self_signed_certificate


def test_email_alert_has_recipients_subject_both_parts_and_links(site, smtp, build):
    serve_feed(site, "wire.xml", [("deal", "Nickel refinery deal signed", NICKEL),
                                  ("weather", "Rain expected over the weekend", "Showers later.")])  # fmt: skip
    alerts = {
        "channels": {"mail": {"type": "email", "host": "127.0.0.1", "port": smtp.port,
                              "security": "none", "from": "newsmon@example.org",
                              "to": ["analyst@example.org", "desk@example.org"]}},
        "routes": {"ev-now": {"topics": ["ev"], "channels": ["mail"]}},
    }  # fmt: skip
    monitor = build([{"name": "Wire", "url": site.url("wire.xml")}], alerts, Clock())
    poll(monitor)

    report = monitor.alerts.deliver_now()

    assert (report.sent, report.failed) == (1, 0)
    [mail] = smtp.received
    assert mail.sender == "newsmon@example.org"
    assert mail.recipients == ["analyst@example.org", "desk@example.org"]
    assert mail.message["Subject"] == "[newsmon] ev: Nickel refinery deal signed"
    assert mail.message["To"] == "analyst@example.org, desk@example.org"
    plain, html = mail.part("plain"), mail.part("html")
    url = site.url("wire/deal.html")
    assert url in plain and "Wire" in plain and "nickel" in plain
    assert f'href="{url}"' in html and "<mark>nickel</mark>" in html.lower()
    assert monitor.alerts.deliver_now().sent == 0  # nothing is sent twice
    assert len(smtp.received) == 1


def test_slack_429_with_retry_after_is_delivered_exactly_once(site, slack, build):
    serve_feed(site, "wire.xml", [("deal", "Nickel refinery deal signed", NICKEL)])
    monitor = build(
        [{"name": "Wire", "url": site.url("wire.xml")}], slack_alerts(slack.url), Clock()
    )
    poll(monitor)
    slack.script.append(Reply(429, "rate_limited", {"Retry-After": "1"}))

    report = monitor.alerts.deliver_now()

    assert report.sent == 1
    assert [p.accepted for p in slack.posts] == [False, True]  # slack-sdk waited and retried
    assert slack.posts[1].at - slack.posts[0].at >= 1.0
    [payload] = slack.accepted
    assert "Nickel refinery deal signed" in section_texts(payload)
    assert payload["blocks"][0]["type"] == "header"
    [row] = alert_rows(monitor)
    assert (row.status, row.attempts) == ("sent", 1)
    assert monitor.alerts.deliver_now().sent == 0
    assert len(slack.accepted) == 1


def test_slack_500_three_times_then_ok_is_delivered_once_with_backoff(site, slack, build):
    serve_feed(site, "wire.xml", [("deal", "Nickel refinery deal signed", NICKEL)])
    clock = Clock()
    monitor = build([{"name": "Wire", "url": site.url("wire.xml")}], slack_alerts(slack.url), clock)
    poll(monitor)
    slack.script.extend([Reply(500, "internal_error")] * 3)

    delays = []
    for _ in range(3):
        assert monitor.alerts.deliver_now().failed == 1
        [row] = alert_rows(monitor)
        delays.append((row.next_attempt_at - clock.now).total_seconds())
        assert monitor.alerts.deliver_now().claimed == 0  # not due before its backoff
        clock.now = row.next_attempt_at
    assert monitor.alerts.deliver_now().sent == 1

    assert delays[0] < delays[1] < delays[2]  # exponential
    assert len(slack.posts) == 4 and len(slack.accepted) == 1
    [row] = alert_rows(monitor)
    assert (row.status, row.attempts, row.last_error) == ("sent", 4, None)


def test_slack_refusal_is_dead_at_once_and_retry_revives_it(site, slack, build):
    serve_feed(site, "wire.xml", [("deal", "Nickel refinery deal signed", NICKEL)])
    monitor = build(
        [{"name": "Wire", "url": site.url("wire.xml")}], slack_alerts(slack.url), Clock()
    )
    poll(monitor)
    slack.script.append(Reply(404, "no_service"))

    assert monitor.alerts.deliver_now().dead == 1
    [row] = alert_rows(monitor)
    assert row.status == "dead" and "404: no_service" in row.last_error
    assert slack.url not in row.last_error

    from storage.outbox import retry_alerts

    with monitor.archive.session() as session:
        assert retry_alerts(session, now=monitor.alerts.dispatcher.clock(), dead=True) == 1
    assert monitor.alerts.deliver_now().sent == 1
    assert len(slack.accepted) == 1


def test_smtp_down_then_back_delivers_once(site, build):
    serve_feed(site, "wire.xml", [("deal", "Nickel refinery deal signed", NICKEL),
                                  ("cells", "Battery cell plant expands", "The battery plant grows.")])  # fmt: skip
    clock = Clock()
    server = MailServer()  # its port is chosen, but nothing listens yet
    alerts = {
        "channels": {"mail": {"type": "email", "host": "127.0.0.1", "port": server.port,
                              "security": "none", "from": "n@example.org", "to": "a@example.org",
                              "timeout": 5}},
        "routes": {"ev-now": {"topics": ["ev"], "channels": ["mail"]}},
    }  # fmt: skip
    monitor = build([{"name": "Wire", "url": site.url("wire.xml")}], alerts, clock)
    poll(monitor)

    down = monitor.alerts.deliver_now()
    assert (down.sent, down.failed, down.postponed) == (0, 1, 1)  # the second waits, untried
    rows = alert_rows(monitor)
    assert "connection refused" in rows[0].last_error
    assert [r.attempts for r in rows] == [1, 0]

    with server:
        clock.advance(hours=1)
        up = monitor.alerts.deliver_now()
        assert up.sent == 2
        assert monitor.alerts.deliver_now().sent == 0
    assert sorted(m.message["Subject"] for m in server.received) == [
        "[newsmon] ev: Battery cell plant expands", "[newsmon] ev: Nickel refinery deal signed",
    ]  # fmt: skip


def test_syndicated_story_on_two_feeds_is_one_alert_naming_both(site, slack, build):
    # Story 1: the copy's page declares the original as canonical (one article).
    # Story 2: two outlets' own pages with near-identical headlines (one story, two articles).
    serve_feed(site, "alpha.xml", [("nickel", "Nickel refinery deal signed", NICKEL),
                                   ("cells", "Japan battery maker to build cell plant in Thailand",
                                    "The battery cell plant will supply regional carmakers.")])  # fmt: skip
    site.routes["/beta/copy.html"] = Route(
        body=article_html("Nickel refinery deal signed", filler(NICKEL),
                          canonical=site.url("alpha/nickel.html")),
        headers={"Content-Type": "text/html; charset=utf-8"},
    )  # fmt: skip
    site.routes["/beta/cells.html"] = Route(
        body=article_html("Japan battery maker to build cell plant in Thailand",
                          filler("A Japanese battery company confirmed a new factory for cells.")),
        headers={"Content-Type": "text/html; charset=utf-8"},
    )  # fmt: skip
    items = [{"title": "Nickel refinery deal signed", "link": site.url("beta/copy.html")},
             {"title": "Japan battery maker to build cell plant in Thailand",
              "link": site.url("beta/cells.html")}]  # fmt: skip
    site.routes["/beta.xml"] = Route(
        body=rss(items), headers={"Content-Type": "application/rss+xml"}
    )
    sources = [{"name": "Alpha Daily", "url": site.url("alpha.xml")},
               {"name": "Beta Times", "url": site.url("beta.xml")}]  # fmt: skip
    monitor = build(sources, slack_alerts(slack.url), Clock())
    poll(monitor, ["Alpha Daily"])
    poll(monitor, ["Beta Times"])

    report = monitor.alerts.deliver_now()

    assert report.sent == 2
    assert len(slack.accepted) == 2
    for payload in slack.accepted:
        text = section_texts(payload)
        assert "Alpha Daily" in text and "Beta Times" in text
    assert len({r.story_id for r in alert_rows(monitor)}) == 2


def test_digest_at_cron_time_holds_exactly_the_stories_since_the_last(site, build, tmp_path):
    clock = Clock()  # Monday 09:00 Tokyo; the next digest is Tuesday 08:00 Tokyo
    out = tmp_path / "alerts.jsonl"
    alerts = {
        "channels": {"log": {"type": "file", "path": str(out)}},
        "routes": {"morning": {"topics": "all", "channels": ["log"], "mode": "digest",
                               "cron": "0 8 * * mon-fri", "timezone": "Asia/Tokyo"}},
    }  # fmt: skip
    serve_feed(site, "wire.xml", [("a", "Nickel refinery deal signed", NICKEL),
                                  ("b", "Battery cell plant expands", "The battery plant grows.")])  # fmt: skip
    monitor = build([{"name": "Wire", "url": site.url("wire.xml")}], alerts, clock)
    poll(monitor)

    assert monitor.alerts.deliver_now().sent == 0  # 08:00 Tokyo has not come yet
    clock.now = datetime(2026, 11, 30, 23, 0, 5, tzinfo=UTC)  # Tuesday 08:00:05 Tokyo
    assert monitor.alerts.deliver_now().sent == 1
    assert monitor.alerts.deliver_now().sent == 0

    serve_feed(site, "wire.xml", [("a", "Nickel refinery deal signed", NICKEL),
                                  ("c", "Cathode supplier wins European Union contract",
                                   "The cathode maker signed a European Union supply deal.")])  # fmt: skip
    poll(monitor)
    clock.now = datetime(2026, 12, 1, 23, 0, 30, tzinfo=UTC)  # Wednesday 08:00:30 Tokyo
    assert monitor.alerts.deliver_now().sent == 1

    first, second = (json.loads(line)["message"] for line in out.read_text().splitlines())
    assert sorted(s["title"] for s in first["stories"]) == [
        "Battery cell plant expands", "Nickel refinery deal signed",
    ]  # fmt: skip
    assert [s["title"] for s in second["stories"]] == [
        "Cathode supplier wins European Union contract"
    ]
    assert second["since"] == first["until"] == "2026-11-30T23:00:00+00:00"
    assert {t["name"] for t in second["stories"][0]["topics"]} == {"ev", "eu"}


def test_hourly_cap_sends_the_overflow_in_the_next_digest(site, slack, build):
    clock = Clock(datetime(2026, 11, 30, 10, 15, tzinfo=UTC))
    stories = [
        (f"s{i}", f"Battery story number {i} on cathodes", NICKEL + f" Plant {i}.")
        for i in range(5)
    ]
    serve_feed(site, "wire.xml", stories)
    monitor = build([{"name": "Wire", "url": site.url("wire.xml")}],
                    slack_alerts(slack.url, max_per_hour=2), clock)  # fmt: skip
    poll(monitor)

    assert monitor.alerts.deliver_now().sent == 2
    with monitor.archive.reader() as session:
        waiting = session.execute(select(DigestItem.reason)).scalars().all()
    assert waiting == ["overflow"] * 3
    clock.now = datetime(2026, 11, 30, 11, 0, 1, tzinfo=UTC)  # the overflow digest is hourly
    assert monitor.alerts.deliver_now().sent == 1

    headers = [p["blocks"][0]["text"]["text"] for p in slack.accepted]
    assert headers[2].startswith("ev-now: 3 new stories")
    titles = " ".join(section_texts(p) for p in slack.accepted)
    assert all(f"Battery story number {i} on cathodes" in titles for i in range(5))


def mail_alerts(server: MailServer, **channel: Any) -> dict[str, Any]:
    return {
        "channels": {"mail": {"type": "email", "host": "127.0.0.1", "port": server.port,
                              "from": "newsmon@example.org", "to": "analyst@example.org",
                              **channel}},
        "routes": {"ev-now": {"topics": ["ev"], "channels": ["mail"]}},
    }  # fmt: skip


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_email_over_starttls_or_implicit_tls_with_a_login(site, build, tmp_path, security):
    serve_feed(site, "wire.xml", [("deal", "Nickel refinery deal signed", NICKEL)])
    certificate = self_signed_certificate(tmp_path)
    server = MailServer(security=security, certificate=certificate, users={"newsmon": "pa55-word"})
    with server:
        alerts = mail_alerts(server, security=security, ca_file=str(certificate[0]),
                             username="newsmon", password="pa55-word")  # fmt: skip
        monitor = build([{"name": "Wire", "url": site.url("wire.xml")}], alerts, Clock())
        poll(monitor)
        assert monitor.alerts.deliver_now().sent == 1
    assert server.logins == [("newsmon", True)]
    assert [m.message["Subject"] for m in server.received] == [
        "[newsmon] ev: Nickel refinery deal signed"
    ]


def test_a_refused_login_is_dead_at_once_and_never_shows_the_password(site, build, tmp_path):
    serve_feed(site, "wire.xml", [("deal", "Nickel refinery deal signed", NICKEL)])
    certificate = self_signed_certificate(tmp_path)
    server = MailServer(
        security="starttls", certificate=certificate, users={"newsmon": "right-one"}
    )
    with server:
        alerts = mail_alerts(server, security="starttls", ca_file=str(certificate[0]),
                             username="newsmon", password="wrong-one")  # fmt: skip
        monitor = build([{"name": "Wire", "url": site.url("wire.xml")}], alerts, Clock())
        poll(monitor)
        assert monitor.alerts.deliver_now().dead == 1
    [row] = alert_rows(monitor)
    assert "login refused by 127.0.0.1 (535)" in row.last_error
    assert "wrong-one" not in row.last_error and server.received == []


def test_an_untrusted_certificate_is_a_clear_tls_error(site, build, tmp_path):
    serve_feed(site, "wire.xml", [("deal", "Nickel refinery deal signed", NICKEL)])
    server = MailServer(security="starttls", certificate=self_signed_certificate(tmp_path))
    with server:
        monitor = build([{"name": "Wire", "url": site.url("wire.xml")}],
                        mail_alerts(server, security="starttls"), Clock())  # fmt: skip
        poll(monitor)
        assert monitor.alerts.deliver_now().failed == 1
    [row] = alert_rows(monitor)
    assert "TLS error: certificate not trusted (self-signed certificate" in row.last_error


def test_an_apprise_url_delivers_through_apprise(site, build):
    serve_feed(site, "wire.xml", [("deal", "Nickel refinery deal signed", NICKEL)])
    with WebhookReceiver(path="/notify", block_kit=False) as endpoint:
        host = endpoint.url.split("//")[1].split("/")[0]
        alerts = {
            "channels": {"ntfy-like": {"type": "apprise", "urls": f"json://{host}/notify"}},
            "routes": {"ev-now": {"topics": ["ev"], "channels": ["ntfy-like"]}},
        }
        monitor = build([{"name": "Wire", "url": site.url("wire.xml")}], alerts, Clock())
        poll(monitor)
        assert monitor.alerts.deliver_now().sent == 1
        [payload] = endpoint.accepted
    assert payload["title"] == "ev: Nickel refinery deal signed"
    assert site.url("wire/deal.html") in payload["message"]
