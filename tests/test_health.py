"""Failing sources back off, an admin hears once when one goes down and once when it is back."""

from __future__ import annotations

import asyncio
import json
import threading

from sqlalchemy import select

from monitor.config import load_config
from monitor.daemon import Daemon
from monitor.demo.server import Route
from monitor.health import SourceWatch, backoff_delay
from monitor.poller import Monitor
from storage.db import Archive
from storage.models import Source
from tests import reactor
from tests.alerting import NICKEL, TOPICS, Clock, serve_feed
from tests.conftest import poll, write_config
from tests.processes import newsmon


def test_backoff_doubles_from_the_interval_up_to_the_cap():
    delays = [backoff_delay(f, 60, 3600) for f in range(9)]
    assert delays == [0, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert backoff_delay(3, 7200, 3600) == 7200  # never sooner than the interval


def test_admin_hears_once_when_a_source_goes_down_and_once_when_it_recovers(site, tmp_path):
    out = tmp_path / "admin.jsonl"
    serve_feed(site, "wire.xml", [("deal", "Nickel refinery deal signed", NICKEL)])
    site.routes["/wire.xml"].status = 503
    alerts = {"channels": {"ops": {"type": "file", "path": str(out)}},
              "admin": {"channels": ["ops"], "after_failures": 3}}  # fmt: skip
    config = load_config(write_config(tmp_path, sources=[{"name": "Wire", "url": site.url("wire.xml")}],
                                      topics=TOPICS, alerts=alerts))  # fmt: skip
    clock = Clock()
    monitor = Monitor(config, clock=clock)
    watch = SourceWatch(monitor.archive, config.alerts, backoff_max=3600, clock=clock)
    try:
        assert monitor.alerts.enabled  # admin channels alone make the daemon sweep the outbox
        monitor.sync_sources()
        changes = []
        for _ in range(5):
            before = watch.state("Wire")
            changes.append(watch.after_poll(before, poll(monitor)["Wire"]))
        site.routes["/wire.xml"].status = 200
        before = watch.state("Wire")
        changes.append(watch.after_poll(before, poll(monitor)["Wire"]))
        changes.append(watch.after_poll(watch.state("Wire"), poll(monitor)["Wire"]))
        assert monitor.alerts.deliver_now().sent == 2
    finally:
        monitor.close()
    assert changes == [None, None, "down", None, None, "up", None]
    down, up = (json.loads(line) for line in out.read_text().splitlines())
    assert down["kind"] == "admin" and "Wire has failed 3 times in a row" in down["text"]
    assert "503" in down["text"]
    assert "Wire works again after 5 failed polls" in up["headline"]


def test_the_daemon_backs_off_a_failing_source_and_skips_a_disabled_one(site, tmp_path):
    site.routes["/good.xml"] = Route(body=b"<rss version='2.0'><channel><title>t</title></channel></rss>",
                                     headers={"Content-Type": "application/rss+xml"}, conditional=False)  # fmt: skip
    site.routes["/bad.xml"] = Route(status=500, body=b"down")
    site.routes["/off.xml"] = site.routes["/good.xml"]
    sources = [{"name": name, "url": site.url(f"{name}.xml"), "interval": 0.3}
               for name in ("good", "bad", "off")]  # fmt: skip
    config = load_config(write_config(tmp_path, schedule={"min_interval": 0.1, "jitter": 0,
                                                           "backoff_max": 60},
                                      sources=sources, topics=TOPICS))  # fmt: skip
    monitor = Monitor(config)
    monitor.sync_sources()
    from storage.sources import set_paused

    with monitor.archive.session() as session:
        set_paused(session, "off", paused=True, configured_enabled=True)
    daemon = Daemon(monitor)
    holder: dict[str, asyncio.Event] = {}
    enough = threading.Event()

    def after_poll(reports) -> None:
        if site.hits["/good.xml"] >= 12:
            enough.set()
            holder["stop"].set()

    daemon.on_poll.append(after_poll)

    async def main() -> None:
        holder["stop"] = asyncio.Event()
        await daemon.run(holder["stop"])

    finished = reactor.submit(main)
    try:
        assert enough.wait(60)
    finally:
        finished.result(60)
        monitor.close()
    # 12 polls of the healthy source take ~3.6 s; the failing one waits 0.3, 0.6, 1.2, 2.4 s.
    assert 2 <= site.hits["/bad.xml"] <= 5
    assert site.hits["/off.xml"] == 0
    archive = Archive(config.resolve_storage_url())
    with archive.reader() as session:  # the backoff is in the row, where every worker reads it
        bad = session.execute(select(Source).where(Source.name == "bad")).scalar_one()
    archive.close()
    assert bad.next_poll_at is not None and bad.lease_owner is None
    listed = json.loads(newsmon("sources", "--config", str(config.path), "--format", "json").stdout)
    state = next(row["state"] for row in listed if row["name"] == "bad")
    assert state == f"failing; next try {bad.next_poll_at.isoformat(timespec='minutes')}"
