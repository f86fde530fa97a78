"""Benchmark: alert dispatch from the outbox to a local Slack-style webhook.

A synthetic archive of --n stories (one article, one source, one tag each) is
built, and alerts are owed for them exactly as the pipeline owes them. The
webhook endpoint is :class:`monitor.demo.webhook.WebhookReceiver` in its own
process (it validates Block Kit like Slack and records when each post arrived).

Three measurements, in one process:

* baseline: a hand-written loop (for each owed row: load the story with the
  ORM, format a message, post with a fresh ``WebhookClient``, mark it sent and
  commit), on a sample of --baseline-sample alerts;
* drain: --n alerts owed at once, dispatched by ``Dispatcher.run_once`` sweeps
  back to back: alerts/s (median of --repeat runs, each on a fresh archive);
* stream: alerts owed one transaction each at --rate per second while the
  dispatcher sweeps every --interval seconds, as in the daemon: delay from
  "stored" (the outbox row's created_at) to "delivered" (the endpoint's clock),
  p50 and p95.

Every run checks that each owed alert arrived exactly once. The last line is
one JSON object: {"alerts", "alerts_per_s", "p50_delay_s", "p95_delay_s",
"duplicates", "lost"}.

    python bench/alerts.py                # 10,000 alerts
    python bench/alerts.py --n 2000       # quicker
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from monitor.alerts.config import AlertsConfig
from monitor.alerts.dispatcher import Dispatcher
from storage.db import Archive
from storage.models import Alert, Article, ArticleSource, Source, Story, Tag
from storage.outbox import owe_alert

ROUTE, CHANNEL = "bench", "desk"
TITLE = re.compile(r"Bench story (\d+)\b")
RECEIVER = """
import json, signal, sys, threading
from monitor.demo.webhook import WebhookReceiver
receiver = WebhookReceiver().start()
print(receiver.url, flush=True)
done = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: done.set())
done.wait()
posts = [{"at": p.at, "ok": p.accepted, "text": json.dumps(p.payload)} for p in receiver.posts]
json.dump(posts, open(sys.argv[1], "w"))
"""


def now() -> datetime:
    return datetime.now(UTC)


class Endpoint:
    """The webhook receiver in a child process, so it does not share our GIL."""

    def __init__(self, folder: Path) -> None:
        self.out = folder / f"posts-{time.monotonic_ns()}.json"
        self.process = subprocess.Popen(
            [sys.executable, "-c", RECEIVER, str(self.out)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        self.url = self.process.stdout.readline().strip()  # type: ignore[union-attr]

    def finish(self) -> list[dict]:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)
        return json.loads(self.out.read_text())


def make_archive(folder: Path, n: int) -> Archive:
    archive = Archive(f"sqlite:///{folder / f'bench-{time.monotonic_ns()}.db'}")
    at = now()
    with archive.session() as session:
        source_id = session.execute(
            insert(Source).returning(Source.id),
            {"name": "Bench Wire", "url": "http://127.0.0.1/feed", "kind": "feed", "enabled": True,
             "adhoc": False, "consecutive_failures": 0, "created_at": at},
        ).scalar_one()  # fmt: skip
        session.execute(
            insert(Story),
            [{"id": i + 1, "title_key": f"k{i}", "first_seen_at": at} for i in range(n)],
        )
        session.execute(
            insert(Article),
            [{"id": i + 1, "story_id": i + 1, "canonical_url": f"http://127.0.0.1/a/{i}.html",
              "title": f"Bench story {i} on nickel and battery cathodes", "text": "nickel " * 100,
              "summary": "A refinery will process nickel for battery cathodes. " * 3,
              "fetched_at": at, "published_at": at, "extraction": "full", "language": "en"}
             for i in range(n)],
        )  # fmt: skip
        session.execute(
            insert(ArticleSource),
            [{"article_id": i + 1, "source_id": source_id, "url": f"http://127.0.0.1/a/{i}.html",
              "first_seen_at": at} for i in range(n)],
        )  # fmt: skip
        session.execute(
            insert(Tag),
            [{"article_id": i + 1, "topic": "ev", "score": 3.0, "tagged_at": at,
              "explanation": {"topic": "ev", "score": 3.0, "hits": [["nickel", "text", 0, 6, "nickel"]]}}
             for i in range(n)],
        )  # fmt: skip
    return archive


def owe(session: Session, i: int) -> None:
    owe_alert(
        session, dedup_key=f"{ROUTE}|{CHANNEL}|story:{i + 1}", route=ROUTE, channel=CHANNEL,
        kind="immediate", now=now(), story_id=i + 1, article_id=i + 1,
    )  # fmt: skip


def alerts_config(url: str, interval: float) -> AlertsConfig:
    return AlertsConfig.model_validate(
        {
            "channels": {CHANNEL: {"type": "slack", "webhook_url": url}},
            "routes": {ROUTE: {"topics": "all", "channels": [CHANNEL]}},
            "dispatch": {"interval": interval, "batch": 500},
        }
    )


def tally(posts: list[dict], expected: int) -> tuple[int, int, dict[int, float]]:
    """(duplicates, lost, first delivery time per story index) from the endpoint's record."""
    seen: Counter[int] = Counter()
    first: dict[int, float] = {}
    for post in posts:
        if not post["ok"]:
            continue
        match = TITLE.search(post["text"])
        if match:
            index = int(match.group(1))
            seen[index] += 1
            first.setdefault(index, post["at"])
    duplicates = sum(count - 1 for count in seen.values())
    lost = sum(1 for i in range(expected) if i not in seen)
    return duplicates, lost, first


def run_baseline(folder: Path, sample: int) -> float:
    from slack_sdk.webhook import WebhookClient

    endpoint = Endpoint(folder)
    archive = make_archive(folder, sample)
    with archive.session() as session:
        for i in range(sample):
            owe(session, i)
    start = time.perf_counter()
    while True:
        with Session(archive.engine) as session:
            row = session.execute(select(Alert).where(Alert.status == "pending").limit(1)).scalar()
            if row is None:
                break
            article = session.execute(
                select(Article).where(Article.story_id == row.story_id)
            ).scalar_one()
            text = f"*<{article.canonical_url}|{article.title}>*\n{article.summary[:280]}"
            WebhookClient(endpoint.url).send(
                text=article.title,
                blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
            )
            session.execute(
                update(Alert).where(Alert.id == row.id).values(status="sent", sent_at=now())
            )
            session.commit()
    elapsed = time.perf_counter() - start
    duplicates, lost, _ = tally(endpoint.finish(), sample)
    archive.close()
    assert duplicates == 0 and lost == 0, (duplicates, lost)
    return sample / elapsed


def run_drain(folder: Path, n: int) -> tuple[float, int, int]:
    endpoint = Endpoint(folder)
    archive = make_archive(folder, n)
    with archive.session() as session:
        for i in range(n):
            owe(session, i)
    dispatcher = Dispatcher(archive, alerts_config(endpoint.url, 1.0), clock=now)
    start = time.perf_counter()
    sent = 0
    while sent < n:
        report = dispatcher.run_once()
        if report.claimed == 0:
            break
        sent += report.sent
    elapsed = time.perf_counter() - start
    dispatcher.close()
    archive.close()
    duplicates, lost, _ = tally(endpoint.finish(), n)
    return n / elapsed, duplicates, lost


def run_stream(folder: Path, n: int, rate: float, interval: float) -> tuple[list[float], int, int]:
    endpoint = Endpoint(folder)
    archive = make_archive(folder, n)
    dispatcher = Dispatcher(archive, alerts_config(endpoint.url, interval), clock=now)
    stored_at: dict[int, float] = {}
    producing = threading.Event()
    producing.set()

    def produce() -> None:
        start = time.monotonic()
        for i in range(n):
            target = start + i / rate
            pause = target - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            with archive.session() as session:  # one transaction an article, as the pipeline
                owe(session, i)
            stored_at[i] = time.time()
        producing.clear()

    producer = threading.Thread(target=produce)
    producer.start()
    delivered = 0
    next_tick = time.monotonic()
    while producing.is_set() or delivered < n:
        next_tick += interval
        delivered += dispatcher.run_once().sent
        pause = next_tick - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        else:
            next_tick = time.monotonic()  # coalesce missed ticks, as APScheduler does
        if not producing.is_set() and delivered >= n:
            break
    producer.join()
    dispatcher.close()
    archive.close()
    duplicates, lost, first = tally(endpoint.finish(), n)
    delays = [first[i] - stored_at[i] for i in first if i in stored_at]
    return delays, duplicates, lost


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="alerts per run")
    parser.add_argument("--repeat", type=int, default=3, help="drain runs (median)")
    parser.add_argument("--rate", type=float, default=250.0, help="alerts owed per second (stream)")
    parser.add_argument(
        "--interval", type=float, default=1.0, help="seconds between sweeps (stream)"
    )
    parser.add_argument("--baseline-sample", type=int, default=1000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="newsmon-bench-alerts-") as tmp:
        folder = Path(tmp)
        baseline = run_baseline(folder, min(args.baseline_sample, args.n))
        print(
            f"baseline (hand-written loop): {baseline:,.0f} alerts/s on {min(args.baseline_sample, args.n):,}"
        )
        rates, duplicates, lost = [], 0, 0
        for run in range(args.repeat):
            rate, dup, gone = run_drain(folder, args.n)
            rates.append(rate)
            duplicates, lost = duplicates + dup, lost + gone
            print(
                f"drain run {run + 1}: {args.n:,} alerts at {rate:,.0f} alerts/s ({dup} duplicates, {gone} lost)"
            )
        drain = statistics.median(rates)
        print(f"drain median: {drain:,.0f} alerts/s = {drain / baseline:.1f}x the baseline")
        delays, dup, gone = run_stream(folder, args.n, args.rate, args.interval)
        duplicates, lost = duplicates + dup, lost + gone
        p50, p95 = percentile(delays, 0.5), percentile(delays, 0.95)
        print(
            f"stream: {args.n:,} alerts owed at {args.rate:g}/s, sweeps every {args.interval:g}s: "
            f"stored→delivered p50 {p50:.2f}s, p95 {p95:.2f}s, max {max(delays):.2f}s "
            f"({dup} duplicates, {gone} lost)"
        )
    print(
        json.dumps(
            {
                "alerts": args.n, "alerts_per_s": round(drain, 1), "p50_delay_s": round(p50, 3),
                "p95_delay_s": round(p95, 3), "duplicates": duplicates, "lost": lost,
            }
        )
    )  # fmt: skip


if __name__ == "__main__":
    main()
