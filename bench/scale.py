"""Benchmark: 1, 2 and 4 `newsmon daemon` workers on PostgreSQL against the single SQLite daemon.

Serves --feeds feeds (--entries entries each, with article pages) over 50
loopback host names from a separate process, and an alert endpoint that answers
like Slack. For each setup it starts fresh: an empty archive (a SQLite file, or
a new PostgreSQL schema) and N real daemon processes, in two phases:

- first round (every feed hourly, so each is polled once): time until every
  article is stored → articles/s; every article owes one alert → alerts/s;
- steady state (the same daemons restarted with every feed due every second, so
  they are saturated and every feed answers 304): polls per second over
  --windows windows of --window seconds (median), and the CPU seconds the
  PostgreSQL server processes spent per 1,000 polls (psutil);
- duplicates (articles or alerts stored or sent twice) and lost articles.

The SQLite daemon is the baseline, measured in the same run. This machine's
core count bounds what more workers can add: see the README's scaling section.
The last line is one JSON object.

    NEWSMON_TEST_PG_URL=postgresql://postgres@127.0.0.1:5432/test python bench/scale.py
    python bench/scale.py --feeds 200 --workers 1 2     # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psutil  # noqa: E402
import yaml  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from bench.sites import HOSTS, feed_url, start_server  # noqa: E402
from monitor.demo.webhook import WebhookReceiver  # noqa: E402


def postgres_cpu() -> dict[int, float]:
    """CPU seconds per PostgreSQL server process (backends live as long as their connections)."""
    seconds = {}
    for process in psutil.process_iter(["name"]):
        if process.info["name"] and process.info["name"].startswith("postgres"):
            try:
                times = process.cpu_times()
                seconds[process.pid] = times.user + times.system
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
    return seconds


def cpu_since(before: dict[int, float]) -> float:
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in postgres_cpu().items())


class Database:
    """A fresh archive: a SQLite file, or a schema of its own on the PostgreSQL server."""

    def __init__(self, pg_base: str | None, tmp: Path) -> None:
        self.schema = None
        if pg_base is None:
            self.url = f"sqlite:///{tmp / f'scale-{uuid.uuid4().hex[:6]}.db'}"
            self.engine = create_engine(self.url)
            return
        self.schema = "scale_" + uuid.uuid4().hex[:10]
        admin = create_engine(pg_base.replace("postgresql://", "postgresql+psycopg://", 1))
        with admin.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {self.schema}"))
        admin.dispose()
        sep = "&" if "?" in pg_base else "?"
        self.url = f"{pg_base}{sep}options=-csearch_path%3D{self.schema}"
        self.engine = create_engine(self.url.replace("postgresql://", "postgresql+psycopg://", 1))
        self.pg_base = pg_base

    def scalar(self, sql: str) -> int:
        try:
            with self.engine.connect() as connection:
                return int(connection.execute(text(sql)).scalar() or 0)
        except Exception:
            return 0  # the daemons are still creating the schema

    def drop(self) -> None:
        self.engine.dispose()
        if self.schema:
            admin = create_engine(self.pg_base.replace("postgresql://", "postgresql+psycopg://", 1))
            with admin.begin() as connection:
                connection.execute(text(f"DROP SCHEMA {self.schema} CASCADE"))
            admin.dispose()


def write_config(
    tmp: Path, url: str, feeds: int, port: int, webhook: str, *, interval: float,
    path: Path | None = None,
) -> Path:  # fmt: skip
    from monitor.config import load_config

    topics = load_config(REPO / "config.yaml").topics
    data = {
        "storage": {"url": url},
        "fetch": {"download_delay": 0, "autothrottle": False, "concurrent_requests": 64,
                  "concurrent_per_domain": 4, "retries": 0, "timeout": 30},
        "schedule": {"min_interval": 1, "jitter": 0},
        "daemon": {"max_polls": 128, "lease": 120},
        "sources": [{"name": f"feed {i}", "url": feed_url(i).format(port=port), "interval": interval}
                    for i in range(feeds)],
        "topics": {name: rule.model_dump(exclude_none=True) for name, rule in topics.items()},
        # every article owes one alert, whatever it is about: a topic that matches all
        "alerts": {"channels": {"desk": {"type": "slack", "webhook_url": webhook}},
                   "routes": {"all": {"channels": ["desk"]}},
                   "dispatch": {"interval": 1, "batch": 200}},
    }  # fmt: skip
    data["topics"]["everything"] = {"query": "report"}
    path = path or tmp / f"config-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def start_workers(workers: int, config: Path) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen([sys.executable, "-m", "monitor", "daemon", "--config", str(config)],
                         cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(workers)
    ]  # fmt: skip


def stop_workers(daemons: list[subprocess.Popen[bytes]]) -> None:
    for daemon in daemons:
        daemon.send_signal(signal.SIGTERM)
    for daemon in daemons:
        try:
            daemon.wait(120)
        except subprocess.TimeoutExpired:
            daemon.kill()


def run_setup(
    name: str, workers: int, db: Database, tmp: Path, webhook: WebhookReceiver,
    expected: int, args: argparse.Namespace,
) -> dict[str, Any]:  # fmt: skip
    """Phase 1: every feed polled once (hourly interval) → articles/s, alerts/s.
    Phase 2: every feed due every second, so the workers are saturated → polls/s, DB CPU.
    """
    config = write_config(tmp, db.url, args.feeds, args.port, webhook.url, interval=3600)
    started = time.perf_counter()
    daemons = start_workers(workers, config)
    try:
        stored, stored_at = 0, None
        while time.perf_counter() - started < args.timeout:
            stored = db.scalar("SELECT count(*) FROM articles")
            if stored >= expected:
                stored_at = time.perf_counter() - started
                break
            time.sleep(0.5)
        while len(webhook.accepted) < stored and time.perf_counter() - started < args.timeout:
            time.sleep(0.2)
        alerts_at = time.perf_counter() - started
    finally:
        stop_workers(daemons)

    write_config(tmp, db.url, args.feeds, args.port, webhook.url, interval=1, path=config)
    daemons = start_workers(workers, config)
    try:
        time.sleep(args.window)  # start-up and the first claims
        cpu_before = postgres_cpu() if db.schema else None
        rates = []
        for _ in range(args.windows):
            before, t0 = db.scalar("SELECT count(*) FROM poll_runs"), time.perf_counter()
            time.sleep(args.window)
            after, t1 = db.scalar("SELECT count(*) FROM poll_runs"), time.perf_counter()
            rates.append((after - before) / (t1 - t0))
        cpu = cpu_since(cpu_before) if cpu_before is not None else None  # while backends live
        cpu_per_1000 = cpu / sum(rates) / args.window * 1000 if cpu is not None else None
    finally:
        stop_workers(daemons)
    distinct = db.scalar("SELECT count(DISTINCT canonical_url) FROM articles")
    stored = db.scalar("SELECT count(*) FROM articles")
    headlines = [post["blocks"][0]["text"]["text"] for post in webhook.accepted]
    result = {
        "setup": name,
        "workers": workers,
        "articles": stored,
        "first_round_s": round(stored_at, 2) if stored_at else None,
        "articles_per_s": round(stored / stored_at, 1) if stored_at else None,
        "alerts": len(headlines),
        "alerts_per_s": round(len(headlines) / alerts_at, 1) if alerts_at else None,
        "polls_per_s": round(statistics.median(rates), 1),
        "polls_per_s_runs": [round(r, 1) for r in rates],
        "db_cpu_s": round(cpu, 1) if cpu is not None else None,
        "db_cpu_s_per_1000_polls": round(cpu_per_1000, 2) if cpu_per_1000 is not None else None,
        "duplicates": (stored - distinct) + (len(headlines) - len(set(headlines))),
        "lost": max(0, expected - stored),
    }
    print(
        f"{name:10} {workers:>3} workers: {result['articles']} articles in "
        f"{result['first_round_s']} s ({result['articles_per_s']}/s), {result['alerts']} alerts "
        f"({result['alerts_per_s']}/s), steady {result['polls_per_s']} polls/s "
        f"{result['polls_per_s_runs']}, db cpu {result['db_cpu_s']} s "
        f"({result['db_cpu_s_per_1000_polls']} s per 1,000 polls), "
        f"duplicates {result['duplicates']}, lost {result['lost']}",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--entries", type=int, default=2, help="entries (articles) per feed")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--window", type=float, default=10.0, help="seconds per steady window")
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--port", type=int, default=18766)
    args = parser.parse_args()
    pg_base = os.environ.get("NEWSMON_TEST_PG_URL")
    if not pg_base:
        sys.exit("set NEWSMON_TEST_PG_URL (e.g. postgresql://postgres@127.0.0.1:5432/test)")

    tmp = Path(tempfile.mkdtemp(prefix="newsmon-scale-"))
    server = start_server(args.port, args.entries)
    expected = args.feeds * args.entries
    print(f"serving {args.feeds} feeds x {args.entries} entries over {len(HOSTS)} loopback hosts; "
          f"{psutil.cpu_count()} cores", flush=True)  # fmt: skip
    results = []
    try:
        setups = [("sqlite", 1, None)] + [("postgres", n, pg_base) for n in args.workers]
        for name, workers, base in setups:
            with WebhookReceiver() as webhook:
                db = Database(base, tmp)
                try:
                    results.append(run_setup(name, workers, db, tmp, webhook, expected, args))
                finally:
                    db.drop()
    finally:
        server.terminate()
        server.wait()

    baseline = results[0]
    print(f"{'setup':10} {'workers':>7} {'polls/s':>8} {'vs sqlite':>9} {'articles/s':>10} "
          f"{'alerts/s':>8} {'db cpu s':>8}")  # fmt: skip
    for r in results:
        ratio = r["polls_per_s"] / baseline["polls_per_s"] if baseline["polls_per_s"] else 0
        print(f"{r['setup']:10} {r['workers']:>7} {r['polls_per_s']:>8} {ratio:>8.2f}x "
              f"{r['articles_per_s'] or 0:>10} {r['alerts_per_s'] or 0:>8} "
              f"{r['db_cpu_s'] if r['db_cpu_s'] is not None else '-':>8}")  # fmt: skip
    summary = {
        "feeds": args.feeds,
        "sqlite_polls_per_s": baseline["polls_per_s"],
        "pg_polls_per_s": {str(r["workers"]): r["polls_per_s"] for r in results[1:]},
        "duplicates": sum(r["duplicates"] for r in results),
        "lost": sum(r["lost"] for r in results),
        "articles_per_s": {f"{r['setup']}:{r['workers']}": r["articles_per_s"] for r in results},
        "alerts_per_s": {f"{r['setup']}:{r['workers']}": r["alerts_per_s"] for r in results},
        "pg_db_cpu_s_per_1000_polls": {
            str(r["workers"]): r["db_cpu_s_per_1000_polls"] for r in results[1:]
        },
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
