"""Benchmark: newsmon's poll against the loop a user would otherwise write.

Serves N feeds (20 entries each, with article pages) over 50 loopback host
names from a separate process, then measures in one run:

1. newsmon's first full poll (fetch, extract, classify, store) into a fresh archive;
2. a steady-state poll where every feed answers 304 (--repeat runs after each first poll);
3. the baseline: a sequential ``feedparser.parse(url)`` loop over all feeds, plus,
   for a sample of entries, ``urllib`` + ``trafilatura.extract`` per page (no
   storage, no classification).

The machine this runs on changes speed by up to 1.8x over minutes (other
tenants), so one baseline measured before a minute-long first poll says little
about the machine during it. Each of --rounds first polls is therefore
bracketed by baseline runs (B N B N B ... B) and compared with the mean of the
two around it; the ratios reported are the medians over rounds.

The per-domain download delay is set to 0 (the server is ours); robots.txt is
still requested and obeyed. Each run is a child process of its own, so peak RSS
and CPU seconds belong to it alone. The last line is one JSON object.

    python bench/poll.py                      # 500 feeds, 3 rounds
    python bench/poll.py --n 50 --rounds 1    # quick look
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.sites import HOSTS, feed_url, start_server  # noqa: E402

ENTRIES = 20


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(fn) -> dict[str, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return {
        "wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
        "result": result,
    }


def newsmon_side(n: int, port: int, repeat: int) -> dict[str, Any]:
    import yaml

    from monitor.config import load_config
    from monitor.poller import Monitor
    from spiders.crawl import run

    topics = load_config(REPO / "config.yaml").topics
    tmp = Path(tempfile.mkdtemp(prefix="newsmon-bench-"))
    config_path = tmp / "config.yaml"
    config_path.write_text(
        yaml.safe_dump(
            {
                "storage": {"url": f"sqlite:///{tmp / 'bench.db'}"},
                "fetch": {
                    "download_delay": 0,
                    "autothrottle": False,
                    "concurrent_requests": 64,
                    "concurrent_per_domain": 4,
                    "retries": 0,
                    "timeout": 30,
                },
                "sources": [
                    {"name": f"feed {i}", "url": feed_url(i).format(port=port)} for i in range(n)
                ],
                "topics": {
                    name: rule.model_dump(exclude_none=True) for name, rule in topics.items()
                },
            }
        )
    )
    monitor = Monitor(load_config(config_path))
    monitor.sync_sources()

    async def phases() -> dict[str, Any]:
        first = await timed(monitor.poll)
        steady = [await timed(monitor.poll) for _ in range(repeat)]
        return {"first": first, "steady": steady}

    out = run(phases)
    first_reports = out["first"]["result"]
    out["first"]["articles"] = sum(r.new for r in first_reports)
    out["first"]["failed"] = sum(r.status == "failed" for r in first_reports)
    out["first"].pop("result")
    for run_ in out["steady"]:
        run_["not_modified"] = sum(r.status == "not_modified" for r in run_.pop("result"))
    out["peak_rss_mb"] = peak_rss_mb()
    return out


async def timed(poll) -> dict[str, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = await poll()
    return {
        "wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
        "result": result,
    }


def baseline_side(n: int, port: int, sample: int) -> dict[str, Any]:
    import urllib.request

    import feedparser
    import trafilatura

    urls = [feed_url(i).format(port=port) for i in range(n)]

    def feed_loop() -> list[str]:
        links = []
        for url in urls:
            links.extend(entry.link for entry in feedparser.parse(url).entries)
        return links

    loop = measure(feed_loop)
    links = loop["result"]
    step = max(1, len(links) // sample)
    chosen = links[::step][:sample]

    def article_loop() -> int:
        done = 0
        for link in chosen:
            with urllib.request.urlopen(link, timeout=30) as response:
                html = response.read().decode("utf-8")
            if trafilatura.extract(html, url=link):
                done += 1
        return done

    articles = measure(article_loop)
    return {
        "feed_loop": {k: v for k, v in loop.items() if k != "result"},
        "entries": len(links),
        "articles": {
            "pages": articles["result"],
            "wall_s": articles["wall_s"],
            "cpu_s": articles["cpu_s"],
        },
        "peak_rss_mb": peak_rss_mb(),
    }


def in_child(side: str, **kwargs: Any) -> dict[str, Any]:
    code = (
        f"import json, sys; sys.path.insert(0, {str(REPO)!r}); from bench.poll import {side} as f; "
        f"print('RESULT ' + json.dumps(f(**{kwargs!r})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{side} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=500, help="number of feeds (default 500)")
    parser.add_argument("--rounds", type=int, default=3, help="first polls, each bracketed")
    parser.add_argument("--repeat", type=int, default=3, help="steady polls after each first")
    parser.add_argument(
        "--sample", type=int, default=1000, help="pages in the baseline's article loop"
    )
    parser.add_argument("--port", type=int, default=18765)
    args = parser.parse_args()

    server = start_server(args.port, ENTRIES)
    bases: list[dict[str, Any]] = []
    ours: list[dict[str, Any]] = []
    try:
        print(
            f"serving {args.n} feeds x {ENTRIES} entries over {len(HOSTS)} loopback hosts",
            flush=True,
        )
        baseline = {"n": args.n, "port": args.port, "sample": args.sample}
        bases.append(in_child("baseline_side", **baseline))
        for round_ in range(args.rounds):
            ours.append(in_child("newsmon_side", n=args.n, port=args.port, repeat=args.repeat))
            bases.append(in_child("baseline_side", **baseline))
            report_round(round_, bases[-2:], ours[-1])
    finally:
        server.terminate()
        server.wait()

    feed_loops = [b["feed_loop"] for b in bases]
    base_rates = [article_rate(b) for b in bases]
    first_rates = [o["first"]["articles"] / o["first"]["wall_s"] for o in ours]
    ratios = [rate / statistics.mean(base_rates[i : i + 2]) for i, rate in enumerate(first_rates)]
    steady = [r for o in ours for r in o["steady"]]
    feed_loop_s = statistics.median(r["wall_s"] for r in feed_loops)
    steady_s = statistics.median(r["wall_s"] for r in steady)
    base_rate, first_rate = statistics.median(base_rates), statistics.median(first_rates)
    first = ours[0]["first"]
    peak = max(o["peak_rss_mb"] for o in ours)
    rows = [
        ("baseline feed loop (median)", feed_loop_s, statistics.median(r["cpu_s"] for r in feed_loops), bases[0]["peak_rss_mb"], f"{bases[0]['entries']} entries"),
        ("baseline fetch+extract (median)", statistics.median(b["articles"]["wall_s"] for b in bases), statistics.median(b["articles"]["cpu_s"] for b in bases), bases[0]["peak_rss_mb"], f"{base_rate:.0f} articles/s over {bases[0]['articles']['pages']} pages"),
        ("newsmon first poll (median)", statistics.median(o["first"]["wall_s"] for o in ours), statistics.median(o["first"]["cpu_s"] for o in ours), peak, f"{first_rate:.0f} articles/s, {first['articles']} stored, {first['failed']} feeds failed"),
        ("newsmon steady 304 poll (median)", steady_s, statistics.median(r["cpu_s"] for r in steady), peak, f"{steady[0]['not_modified']} feeds answered 304"),
    ]  # fmt: skip
    print(f"{'phase':36} {'wall s':>8} {'cpu s':>8} {'peak MB':>8}  notes")
    for name, wall, cpu, rss, note in rows:
        print(f"{name:36} {wall:8.2f} {cpu:8.2f} {rss:8.0f}  {note}")
    print(f"baseline fetch+extract runs: {', '.join(f'{r:.0f}' for r in base_rates)} articles/s")
    print(f"first poll / bracketing baselines: {', '.join(f'{r:.2f}' for r in ratios)}")
    print(f"steady poll is {feed_loop_s / steady_s:.1f}x faster than the baseline feed loop")
    print(f"first poll stores {statistics.median(ratios):.2f}x the baseline's fetch+extract rate")
    print(
        json.dumps(
            {
                "feeds": args.n,
                "baseline_feed_loop_s": round(feed_loop_s, 3),
                "steady_poll_s": round(steady_s, 3),
                "steady_speedup": round(feed_loop_s / steady_s, 2),
                "baseline_articles_per_s": round(base_rate, 1),
                "first_poll_articles_per_s": round(first_rate, 1),
                "first_poll_ratio": round(statistics.median(ratios), 2),
                "peak_rss_mb": round(peak, 1),
                "rounds": args.rounds,
            }
        )
    )


def article_rate(base: dict[str, Any]) -> float:
    return base["articles"]["pages"] / base["articles"]["wall_s"]


def report_round(index: int, bases: list[dict[str, Any]], ours: dict[str, Any]) -> None:
    first = ours["first"]
    rate = first["articles"] / first["wall_s"]
    around = statistics.mean(article_rate(b) for b in bases)
    print(
        f"round {index + 1}: first poll {rate:.0f} articles/s ({first['wall_s']:.1f} s), "
        f"baselines around it {' / '.join(f'{article_rate(b):.0f}' for b in bases)} articles/s "
        f"-> {rate / around:.2f}x",
        flush=True,
    )


if __name__ == "__main__":
    main()
