"""Benchmark: archive search latency and bulk ingest, against plain LIKE '%…%' scans.

Generates a synthetic archive (default 200,000 articles; ``--n 1000000`` for the
big run): ~400-word articles drawn from everyday news words, a Zipf-distributed
long tail of names and jargon, and domain terms (nickel, battery, ASEAN, EU…) at
realistic rates, over two years, 60 sources, three topics and some Japanese
and Indonesian articles. Ingest goes through the real schema: the FTS5 index is
kept by its triggers, so "articles/s" includes indexing.

Then 20 varied queries run through ``storage.search.search_page`` (what the CLI,
the API and the web UI call: ranking, filters, snippets and result rows
included), cold (the first run on a freshly opened connection, nothing in
SQLite's page cache; the OS file cache is not dropped) and warm (median of
--repeat runs), and the same questions as ``LIKE '%term%'`` scans, the baseline
a hand-written tool would use. The last line is one JSON object:
{"n", "ingest_per_s", "p50_ms", "p95_ms", "like_p95_ms", "db_mb"}.

    python bench/search.py                 # 200,000 articles
    python bench/search.py --n 1000000     # the big run (several minutes)
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, text

from bench.sites import WORDS
from storage.bulk import bulk_ingest
from storage.db import Archive
from storage.models import Article, ArticleSource, Source, Story, Tag
from storage.search import SearchRequest, search_page

SYLLABLES = ["ka", "ri", "mo", "ta", "se", "lu", "na", "po", "vi", "de", "shi", "ro", "an", "el",
             "tor", "ium", "gen", "bal", "mar", "cor", "nic", "lith", "cob", "ard"]  # fmt: skip
# Domain terms and how often an article mentions each (share of articles).
DOMAIN = {
    "nickel": 0.06, "battery": 0.08, "batteries": 0.04, "lithium": 0.04, "cobalt": 0.02,
    "cathode": 0.02, "smelter": 0.015, "Indonesia": 0.06, "Sulawesi": 0.01, "Japan": 0.12,
    "Japanese": 0.08, "ASEAN": 0.03, "Vietnam": 0.03, "Thailand": 0.03, "Philippines": 0.02,
    "EU": 0.06, "Brussels": 0.02, "tariff": 0.03, "tariffs": 0.02, "semiconductor": 0.02,
    "hydrogen": 0.015, "graphite": 0.008, "tesla": 0.01, "price": 0.05,
}  # fmt: skip
PHRASES = {"battery passport": 0.003, "European Commission": 0.02, "rare earths": 0.008,
           "supply chain": 0.03}  # fmt: skip
TOPICS = {"ev_supply_chain": ("nickel", "battery", "lithium", "cathode"),
          "asean_japan": ("ASEAN", "Vietnam", "Thailand", "Indonesia"),
          "eu_japan": ("EU", "Brussels", "European Commission")}  # fmt: skip
_FUNCTION_TEXT = (
    "the of and to in a for on that with is was by as at from it its be has have "
    "will said are an this which after were also their but not more than been who "
    "had over year new two first last could would about into up other"
)
FUNCTION_WORDS = _FUNCTION_TEXT.split()
START = datetime(2025, 1, 1, tzinfo=UTC)
SPAN_S = 2 * 365 * 86400


@dataclass(frozen=True)
class Query:
    label: str
    request: SearchRequest
    like: str  # the baseline's WHERE clause over articles (title/text), or "" for filters only


def pseudo_words(n: int, rng: random.Random) -> list[str]:
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize())
    return sorted(words)


def vocabulary(seed: int = 11) -> list[str]:
    """Function words, then everyday news words, then a long tail of names, in Zipf rank order."""
    domain = {w.casefold() for term in [*DOMAIN, *PHRASES] for w in term.split()}
    news = [w for w in WORDS if w.casefold() not in domain]  # domain terms only at their rates
    return FUNCTION_WORDS + news + pseudo_words(40_000, random.Random(seed))


def generate(n: int, seed: int = 11):
    """Yield (title, text, language, published, topics, source) for n articles."""
    rng = random.Random(seed + 1)
    words_by_rank = vocabulary(seed)
    cumulative = list(_accumulate(1 / (rank + 1) ** 1.05 for rank in range(len(words_by_rank))))
    for i in range(n):
        words = rng.choices(words_by_rank, cum_weights=cumulative, k=390)
        mentioned = [t for t, share in DOMAIN.items() if rng.random() < share * 3]
        for term in mentioned:
            words.extend([term] * rng.randint(1, 3))
        for phrase, share in PHRASES.items():
            if rng.random() < share * 3:
                words.append(phrase)
        rng.shuffle(words)
        title_words = words[:9]
        body = " ".join(words)
        sentences = [body[j : j + 240] for j in range(0, len(body), 240)]
        text_body = ".\n".join(sentences)
        language = "en"
        if i % 50 == 0:
            language = "ja"
            text_body = "日本の電池材料大手がインドネシアでニッケル中間品を調達する。" + text_body
        elif i % 37 == 0:
            language = "id"
            text_body = "Pemerintah Indonesia dan Jepang sepakati kerja sama nikel. " + text_body
        published = START + timedelta(seconds=rng.randrange(SPAN_S))
        topics = [name for name, terms in TOPICS.items() if any(t in mentioned for t in terms)]
        yield " ".join(title_words).capitalize(), text_body, language, published, topics, i % 60


def _accumulate(values):
    total = 0.0
    for value in values:
        total += value
        yield total


def ingest(archive: Archive, n: int, batch: int = 2000) -> float:
    now = datetime.now(UTC)
    with archive.session() as session:
        session.execute(
            insert(Source),
            [{"id": s + 1, "name": f"Source {s:02d}", "url": f"http://127.0.0.1/{s}/feed",
              "kind": "feed", "enabled": True, "adhoc": False, "consecutive_failures": 0,
              "created_at": now} for s in range(60)],
        )  # fmt: skip
    rows = generate(n)
    with bulk_ingest(archive):
        busy = _store(archive, rows, n, batch)  # generating the synthetic text is not counted
        start = time.perf_counter()
    indexing = time.perf_counter() - start  # leaving the block indexes everything stored
    print(f"  full-text indexing at the end: {indexing:.1f}s", flush=True)
    return n / (busy + indexing)


def _store(archive: Archive, rows, n: int, batch: int) -> float:
    busy = 0.0
    done = 0
    while done < n:
        chunk = [next(rows) for _ in range(min(batch, n - done))]
        start = time.perf_counter()
        with archive.session() as session:
            ids = range(done + 1, done + len(chunk) + 1)
            session.execute(insert(Story.__table__), [{"id": i, "title_key": f"k{i}", "first_seen_at": c[3]}
                                            for i, c in zip(ids, chunk, strict=True)])  # fmt: skip
            session.execute(
                insert(Article.__table__),
                [{"id": i, "story_id": i, "canonical_url": f"http://127.0.0.1/a/{i}",
                  "title": c[0], "text": c[1], "summary": "", "language": c[2],
                  "published_at": c[3], "fetched_at": c[3], "extraction": "full",
                  "content_hash": f"h{i}"}
                 for i, c in zip(ids, chunk, strict=True)],
            )  # fmt: skip
            session.execute(
                insert(ArticleSource.__table__),
                [{"article_id": i, "source_id": c[5] + 1, "url": f"http://127.0.0.1/a/{i}",
                  "first_seen_at": c[3]} for i, c in zip(ids, chunk, strict=True)],
            )  # fmt: skip
            tags = [{"article_id": i, "topic": t, "score": 3.0, "explanation": {"hits": []},
                     "tagged_at": c[3]}
                    for i, c in zip(ids, chunk, strict=True) for t in c[4]]  # fmt: skip
            if tags:
                session.execute(insert(Tag.__table__), tags)
        busy += time.perf_counter() - start
        done += len(chunk)
        if done % 50_000 == 0 or done == n:
            print(f"  stored {done:,} ({done / busy:,.0f}/s before indexing)", flush=True)
    return busy


def queries(now: datetime) -> list[Query]:
    def q(label: str, like: str, **request) -> Query:
        return Query(label, SearchRequest(limit=20, **request), like)

    def has(term: str) -> str:
        escaped = term.replace("'", "''")
        return f"(title LIKE '%{escaped}%' OR text LIKE '%{escaped}%')"

    recent = now - timedelta(days=30)
    # Names from the long tail (as companies, people and places are): about 0.3%, 0.15%
    # and 0.1% of articles mention each.
    tail = vocabulary()
    name_a, name_b, name_c = tail[9_000], tail[20_000], tail[30_000]
    return [
        # Broad: domain words that many articles carry.
        q("nickel", has("nickel"), query="nickel"),
        q("Japan AND (ASEAN OR Vietnam)", f"{has('Japan')} AND ({has('ASEAN')} OR {has('Vietnam')})",
          query="Japan AND (ASEAN OR Vietnam)"),
        q("batter*", has("batter"), query="batter*"),
        q("tariff* AND EU", f"{has('tariff')} AND {has('EU')}", query="tariff* AND EU"),
        q("government officials (common words)", f"{has('government')} AND {has('officials')}",
          query="government officials"),
        q("cathode, topic filter", has("cathode"), query="cathode", topics=("ev_supply_chain",)),
        q("nickel by date", has("nickel"), query="nickel", sort="date"),
        q('"supply chain" OR hydrogen', f"{has('supply chain')} OR {has('hydrogen')}",
          query='"supply chain" OR hydrogen'),
        # Specific: what an analyst looking for one story types.
        q('"battery passport"', has("battery passport"), query='"battery passport"'),
        q("Sulawesi smelter", f"{has('Sulawesi')} AND {has('smelter')}", query="Sulawesi smelter"),
        q('"European Commission" Japan', f"{has('European Commission')} AND {has('Japan')}",
          query='"European Commission" Japan'),
        q("a name", has(name_a), query=name_a),
        q("a name AND nickel", f"{has(name_b)} AND {has('nickel')}", query=f"{name_b} AND nickel"),
        q("a rare name, by date", has(name_c), query=name_c, sort="date"),
        q("two names as a phrase (no match)", has(f"{name_a} {name_b}"), query=f'"{name_a} {name_b}"'),
        q("graphite Vietnam NOT tesla", f"{has('graphite')} AND {has('Vietnam')} AND NOT {has('tesla')}",
          query="graphite Vietnam NOT tesla"),
        q("Japan, last 30 days", has("Japan"), query="Japan", since=recent),
        # Filters only.
        q("newest in a topic", "", topics=("asean_japan",), sort="date"),
        q("newest from a source", "", sources=("Source 07",), sort="date"),
        q("Japanese articles", "language = 'ja'", language="ja", sort="date"),
    ]  # fmt: skip


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def like_sql(query: Query) -> str:
    where = query.like or "1=1"
    extra = ""
    request = query.request
    if request.topics:
        names = ", ".join(f"'{t}'" for t in request.topics)
        extra += f" AND EXISTS (SELECT 1 FROM tags WHERE tags.article_id = articles.id AND topic IN ({names}))"
    if request.sources:
        names = ", ".join(f"'{s}'" for s in request.sources)
        extra += (" AND EXISTS (SELECT 1 FROM article_sources JOIN sources ON sources.id = source_id"
                  f" WHERE article_id = articles.id AND sources.name IN ({names}))")  # fmt: skip
    if request.since:
        extra += f" AND coalesce(published_at, fetched_at) >= '{request.since.replace(tzinfo=None).isoformat(sep=' ')}'"
    return (f"SELECT id, title, substr(text, 1, 200) FROM articles WHERE ({where}){extra} "
            "ORDER BY coalesce(published_at, fetched_at) DESC LIMIT 20")  # fmt: skip


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5, help="warm runs per query (median)")
    parser.add_argument("--db", type=Path, help="keep the archive here (default: a temp folder)")
    args = parser.parse_args()
    folder = (
        Path(tempfile.mkdtemp(prefix="newsmon-bench-search-"))
        if args.db is None
        else args.db.parent
    )
    path = args.db or folder / "search.db"
    path.unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    archive = Archive(url)
    print(f"ingesting {args.n:,} synthetic articles into {path}")
    ingest_rate = ingest(archive, args.n)
    with archive.session() as session:
        session.execute(text("ANALYZE"))
    archive.close()
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db_mb = path.stat().st_size / 1e6
    print(f"ingest: {ingest_rate:,.0f} articles/s (FTS5 index included); database {db_mb:,.0f} MB")

    now = START + timedelta(seconds=SPAN_S)
    cold, warm, like = [], [], []
    print(f"{'query':36} {'hits':>7} {'cold ms':>8} {'warm ms':>8} {'LIKE ms':>9}")
    for query in queries(now):
        archive = Archive(url, migrate=False)  # a new connection: an empty page cache
        with archive.reader() as session:
            run = functools.partial(search_page, session, query.request)
            cold_ms = timed(run)
            runs = [timed(run) for _ in range(args.repeat)]
            hits = len(run().rows)
        archive.close()
        with sqlite3.connect(path) as raw:
            sql = like_sql(query)
            raw.execute(sql).fetchall()  # warm, as the warm runs above
            like_ms = timed(functools.partial(lambda c, s: c.execute(s).fetchall(), raw, sql))
        cold.append(cold_ms)
        warm.append(statistics.median(runs))
        like.append(like_ms)
        print(
            f"{query.label:36} {hits:>7} {cold_ms:>8.1f} {warm[-1]:>8.1f} {like_ms:>9.1f}",
            flush=True,
        )
    p50, p95 = percentile(warm, 0.5), percentile(warm, 0.95)
    print(f"warm: p50 {p50:.1f} ms, p95 {p95:.1f} ms · cold: p50 {percentile(cold, 0.5):.1f} ms, "
          f"p95 {percentile(cold, 0.95):.1f} ms · LIKE: p50 {percentile(like, 0.5):.1f} ms, "
          f"p95 {percentile(like, 0.95):.1f} ms → {percentile(like, 0.95) / p95:.0f}x")  # fmt: skip
    print(json.dumps({"n": args.n, "ingest_per_s": round(ingest_rate), "p50_ms": round(p50, 2),
                      "p95_ms": round(p95, 2), "like_p95_ms": round(percentile(like, 0.95), 1),
                      "db_mb": round(db_mb)}))  # fmt: skip


if __name__ == "__main__":
    main()
