"""Soak: the real daemon for ≥ 200 poll cycles against feeds that keep changing.

A local server publishes --feeds feeds; every --every seconds each gains a new
story (a feed lists its newest 20, as real feeds do), each with its article page.
The daemon (a subprocess, JSON logs, metrics off) polls every --interval seconds and
sends one alert per story to a local Slack stand-in. After --cycles cycles (a cycle
is one poll of every feed) the server stops publishing, the daemon gets time to
catch up, and is stopped with SIGTERM.

Printed: cycles done, articles served vs stored (must be equal), alerts owed vs
delivered (equal, none twice), the daemon's memory (its own RSS plus its extraction
workers') at cycle 20 and at the end (target: < 10% growth), open file descriptors
at cycle 20 (after warm-up: worker pools start lazily) and at the end (equal), and
errors (failed polls, error log lines, alerts sent twice).
The last line is one JSON object: {"cycles", "served", "stored", "alerts_owed",
"alerts_delivered", "rss_mb_20", "rss_mb_end", "fds_start", "fds_end", "errors"}.

    python bench/soak.py                 # 200 cycles (~2-3 minutes)
    python bench/soak.py --cycles 50     # quicker
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil
import yaml

from bench.sites import WORDS
from monitor.demo.server import Route, SiteServer
from monitor.demo.webhook import WebhookReceiver

REPO = Path(__file__).resolve().parent.parent
FEED_SIZE = 20


class ChangingSite:
    """Feeds that gain a story every ``every`` seconds until ``stop``."""

    def __init__(self, server: SiteServer, feeds: int, every: float) -> None:
        self.server = server
        self.feeds = feeds
        self.every = every
        self.start = time.monotonic()
        self.frozen_at: float | None = None
        self.served: set[str] = set()
        self.lock = threading.Lock()
        for feed in range(feeds):
            server.routes[f"/f{feed}.xml"] = Route(body=self._feed(feed), conditional=True)

    def stop(self) -> None:
        self.frozen_at = time.monotonic()

    def count(self) -> int:
        now = self.frozen_at or time.monotonic()
        return 1 + int((now - self.start) / self.every)

    def _feed(self, feed: int):
        def body() -> bytes:
            newest = self.count()
            items = []
            for n in range(max(0, newest - FEED_SIZE), newest):
                path = f"/f{feed}/{n}.html"
                url = self.server.url(path)
                title = self._title(feed, n)
                if path not in self.server.routes:
                    self.server.routes[path] = Route(body=self._page(title, feed, n))
                with self.lock:
                    self.served.add(url)
                items.append(
                    f"<item><title>{title}</title><link>{url}</link><guid>{feed}-{n}</guid></item>"
                )
            return (
                '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                f"<title>Feed {feed}</title><link>{self.server.base_url}/</link>"
                f"<description>soak</description>{''.join(reversed(items))}</channel></rss>"
            ).encode()

        return body

    @staticmethod
    def _title(feed: int, n: int) -> str:
        rng = random.Random(feed * 100_003 + n)
        return f"{rng.choice(WORDS).title()} {feed}-{n}: " + " ".join(
            rng.choice(WORDS) for _ in range(6)
        )

    @staticmethod
    def _page(title: str, feed: int, n: int) -> bytes:
        rng = random.Random(feed * 7 + n)
        paragraphs = "".join(
            "<p>" + " ".join(rng.choice(WORDS) for _ in range(60)) + " soakword.</p>"
            for _ in range(5)
        )
        return (
            f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
            f"</head><body><article><h1>{title}</h1>{paragraphs}</article></body></html>"
        ).encode()


def memory_mb(process: psutil.Process) -> float:
    total = 0
    for member in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):  # a worker may exit between the calls
            total += member.memory_info().rss
    return total / 1e6


def steady_fds(process: psutil.Process) -> int:
    """The fewest descriptors over a second: an HTTP connection in flight is not a leak."""
    samples = []
    for _ in range(10):
        samples.append(process.num_fds())
        time.sleep(0.1)
    return min(samples)


def count(db: Path, sql: str) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as connection:
            return int(connection.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--feeds", type=int, default=5)
    parser.add_argument(
        "--interval", type=float, default=0.5, help="seconds between polls of a feed"
    )
    parser.add_argument(
        "--every", type=float, default=2.0, help="seconds between new stories a feed"
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="newsmon-soak-"))
    db = folder / "soak.db"
    with SiteServer() as server, WebhookReceiver() as slack:
        site = ChangingSite(server, args.feeds, args.every)
        config = {
            "storage": {"url": f"sqlite:///{db}"},
            "fetch": {"download_delay": 0, "autothrottle": False, "concurrent_per_domain": 8,
                      "timeout": 10, "retries": 1, "obey_robots": True, "extract_processes": 1},
            "schedule": {"min_interval": 0.1, "jitter": 0},
            "sources": [{"name": f"Feed {i}", "url": server.url(f"f{i}.xml"), "interval": args.interval}
                        for i in range(args.feeds)],
            "topics": {"soak": {"query": "soakword"}},
            "alerts": {"channels": {"desk": {"type": "slack", "webhook_url": slack.url}},
                       "routes": {"all": {"channels": ["desk"]}},
                       "dispatch": {"interval": 1}},
        }  # fmt: skip
        path = folder / "config.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        daemon = subprocess.Popen(
            [sys.executable, "-m", "monitor", "daemon", "--config", str(path), "--log-format", "json"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        output: list[str] = []
        threading.Thread(target=lambda: output.extend(daemon.stdout), daemon=True).start()  # type: ignore[arg-type]
        process = psutil.Process(daemon.pid)
        polls = "SELECT count(*) FROM poll_runs"
        while count(db, polls) < args.feeds:
            time.sleep(0.2)
        fds_start = None
        rss_20 = None
        started = time.monotonic()
        while (cycles := count(db, polls) // args.feeds) < args.cycles:
            if rss_20 is None and cycles >= 20:  # after warm-up: pools and caches exist by now
                rss_20, fds_start = memory_mb(process), steady_fds(process)
                print(f"cycle 20: {rss_20:.1f} MB, {fds_start} fds", flush=True)
            if int(time.monotonic() - started) % 15 == 0:
                print(
                    f"  {cycles} cycles, {count(db, 'SELECT count(*) FROM articles')} stored",
                    flush=True,
                )
            time.sleep(1)
        site.stop()
        served = len(site.served)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (
            count(db, "SELECT count(*) FROM articles") < served
            or len(slack.accepted) < count(db, "SELECT count(*) FROM alerts")
        ):
            time.sleep(0.5)
        time.sleep(2)
        cycles = count(db, polls) // args.feeds
        rss_end = memory_mb(process)
        fds_end = steady_fds(process)
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(90)
        served = len(site.served)
        stored = count(db, "SELECT count(*) FROM articles")
        owed = count(db, "SELECT count(*) FROM alerts")
        delivered = len({json.dumps(p["blocks"][0]) for p in slack.accepted})
        duplicates = len(slack.accepted) - delivered
        failed_polls = count(db, "SELECT count(*) FROM poll_runs WHERE status = 'failed'")
        errors = [line for line in output if '"level": "error"' in line]
        for line in errors[:5]:
            print("  error:", line.strip()[:300])
        error_lines = len(errors)
    print(f"cycles {cycles} · served {served} · stored {stored} · alerts owed {owed}, delivered "
          f"{delivered} ({duplicates} twice) · memory {rss_20:.1f} MB at cycle 20 → {rss_end:.1f} MB "
          f"({(rss_end / rss_20 - 1) * 100:+.1f}%) · fds {fds_start} → {fds_end} · "
          f"{failed_polls} failed polls, {error_lines} error lines · exit {daemon.returncode}")  # fmt: skip
    print(json.dumps({"cycles": cycles, "served": served, "stored": stored, "alerts_owed": owed,
                      "alerts_delivered": delivered, "rss_mb_20": round(rss_20 or 0, 1),
                      "rss_mb_end": round(rss_end, 1), "fds_start": fds_start, "fds_end": fds_end,
                      "errors": failed_polls + error_lines + duplicates}))  # fmt: skip


if __name__ == "__main__":
    main()
