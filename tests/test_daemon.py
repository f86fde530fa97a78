"""The daemon polls on schedule inside one process, stops cleanly, and runs alone."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time

from sqlalchemy import func, select

from monitor.daemon import Daemon
from monitor.demo.server import Route
from storage.models import Article
from tests import reactor
from tests.conftest import article_html, filler, rss, write_config
from tests.processes import newsmon, start_daemon


def test_three_scheduled_polls_in_one_process_add_exactly_the_new_articles(site, make_monitor):
    items: list[dict[str, str]] = []

    def add_entries(count: int) -> None:
        for _ in range(count):
            n = len(items) + 1
            items.insert(0, {"title": f"Story {n}", "link": site.url(f"s{n}.html"), "guid": str(n)})
            site.routes[f"/s{n}.html"] = Route(
                body=article_html(f"Story {n}", filler(f"Story number {n} on nickel supply."))
            )

    add_entries(1)
    site.routes["/feed.xml"] = Route(body=lambda: rss(items))
    monitor = make_monitor(
        schedule={"min_interval": 0.2, "jitter": 0},
        sources=[{"name": "Wire", "url": site.url("feed.xml"), "interval": 0.5}],
    )
    daemon = Daemon(monitor)
    new_per_poll: list[int] = []
    enough = threading.Event()
    holder: dict[str, asyncio.Event] = {}

    def after_poll(reports) -> None:
        new_per_poll.append(reports[0].new)
        if len(new_per_poll) >= 4:
            enough.set()
            holder["stop"].set()
        else:
            add_entries(len(new_per_poll) + 1)

    daemon.on_poll.append(after_poll)

    async def main() -> None:
        holder["stop"] = asyncio.Event()
        await daemon.run(holder["stop"])

    finished = reactor.submit(main)
    assert enough.wait(60), f"daemon made only {len(new_per_poll)} polls"
    finished.result(30)

    assert new_per_poll == [1, 2, 3, 4]
    with monitor.archive.reader() as session:
        assert session.execute(select(func.count()).select_from(Article)).scalar_one() == 10


def test_the_daemon_process_exits_0_on_sigterm_and_refuses_a_twin(tmp_path, site):
    site.routes["/feed.xml"] = Route(body=rss([{"title": "One", "link": site.url("one.html")}]))
    site.routes["/one.html"] = Route(body=article_html("One", filler("A story about cobalt.")))
    config = write_config(
        tmp_path,
        storage={"url": f"sqlite:///{tmp_path / 'not-yet-created' / 'archive.db'}"},
        schedule={"min_interval": 0.5},
        sources=[{"name": "Wire", "url": site.url("feed.xml"), "interval": 1}],
    )
    first = start_daemon(config)
    try:
        deadline = time.time() + 30
        while site.hits["/one.html"] == 0 and time.time() < deadline:
            time.sleep(0.1)
        assert site.hits["/one.html"] == 1
        twin = start_daemon(config)
        output, _ = twin.communicate(timeout=30)
        assert twin.returncode != 0
        assert "another newsmon daemon" in output and str(first.pid) in output
        running = _status(config)
        assert running["daemon"]["running"] and running["daemon"]["pid"] == first.pid
        assert {"sources:poll", "daemon:heartbeat"} <= {job["id"] for job in running["jobs"]}
        assert running["polls_24h"]["ok"]["new_articles"] == 1
        assert running["archive"]["articles"] == 1 and running["archive"]["bytes"] > 0
    finally:
        first.send_signal(signal.SIGTERM)
        output, _ = first.communicate(timeout=60)
    assert first.returncode == 0, output
    assert "daemon stopped" in output
    assert "Traceback" not in output
    stopped = _status(config)
    assert not stopped["daemon"]["running"] and stopped["jobs"] == []


def _status(config_path) -> dict:
    return json.loads(newsmon("status", "--json", "--config", str(config_path)).stdout)


def test_a_killed_daemon_leaves_no_stale_lock(tmp_path, site):
    site.routes["/feed.xml"] = Route(body=rss([]))
    config = write_config(tmp_path, sources=[{"name": "Wire", "url": site.url("feed.xml")}])
    first = start_daemon(config)
    deadline = time.time() + 30
    while site.hits["/feed.xml"] == 0 and time.time() < deadline:
        time.sleep(0.1)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    second = start_daemon(config)
    try:
        while site.hits["/feed.xml"] < 2 and time.time() < deadline + 30:
            time.sleep(0.1)
        assert site.hits["/feed.xml"] >= 2
    finally:
        second.send_signal(signal.SIGTERM)
        second.communicate(timeout=60)
    assert second.returncode == 0


def test_metrics_health_and_json_logs_without_secrets(tmp_path, site, slack):
    import urllib.request

    from tests.mailserver import free_port

    site.routes["/feed.xml"] = Route(
        body=rss([{"title": "Nickel deal", "link": site.url("one.html")}])
    )
    site.routes["/one.html"] = Route(
        body=article_html("Nickel deal", filler("Nickel for batteries."))
    )
    secret_url = slack.url.replace("secret", "s3cr3t-t0ken-value")  # a wrong path: Slack says 404
    config = write_config(
        tmp_path,
        schedule={"min_interval": 0.5},
        sources=[{"name": "Wire", "url": site.url("feed.xml"), "interval": 1}],
        topics={"ev": {"query": "nickel"}},
        alerts={"channels": {"desk": {"type": "slack", "webhook_url": secret_url}},
                "routes": {"now": {"channels": ["desk"]}}},
    )  # fmt: skip
    port = free_port()
    daemon = start_daemon(config, "--metrics-port", str(port), "--log-format", "json")
    base = f"http://127.0.0.1:{port}"

    def fetch(path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(base + path, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError:
            return 0, ""

    try:
        deadline = time.time() + 30
        while time.time() < deadline and "newsmon_alerts_total{" not in fetch("/metrics")[1]:
            time.sleep(0.2)
        assert fetch("/healthz") == (200, "ok\n")
        metrics = fetch("/metrics")[1]
        assert 'newsmon_polls_total{source="Wire",status="ok"}' in metrics
        assert "newsmon_articles_stored_total 1.0" in metrics
        assert 'newsmon_alerts_total{outcome="dead"} 1.0' in metrics
    finally:
        daemon.send_signal(signal.SIGTERM)
        output, _ = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, output
    lines = [line for line in output.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert any("404" in r["message"] for r in records if r["level"] == "error")
    assert "s3cr3t-t0ken-value" not in output
