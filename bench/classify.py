"""Benchmark: classification speed against one-regex-per-term, at 10, 100 and 1,000 topics.

Generates articles of ~4,000 characters (everyday news words plus a long,
Zipf-distributed tail of names and jargon, so each article matches a few topics
as real news does), and rule sets of ~20 terms per topic (words, phrases,
prefixes, a NEAR). Ours: ``Classifier.classify`` on title and text. Baseline:
every term compiled to a case-insensitive word-boundary regex, tried one after
another on each article. The baseline is slow, so it runs on a sample of the
articles (--baseline-sample at 100 topics, scaled inversely with the number of
topics, at least 20) and its rate is reported per article.
Each rate is the median of --repeat runs. The last line is one JSON object.

    python bench/classify.py            # 10,000 articles
    python bench/classify.py --n 2000   # quicker
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sites import WORDS
from monitor.rules import Document, TopicRule, compile_rules

SYLLABLES = [
    "ka",
    "ri",
    "mo",
    "ta",
    "se",
    "lu",
    "na",
    "po",
    "vi",
    "de",
    "shi",
    "ro",
    "an",
    "el",
    "tor",
    "ium",
    "gen",
    "bal",
    "mar",
    "cor",
    "nic",
    "lith",
    "cob",
    "ard",
]


def pseudo_words(n: int, rng: random.Random) -> list[str]:
    """A long tail of word-like tokens: names, places, jargon, as real news has."""
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def make_articles(n: int, rng: random.Random, tail: list[str]) -> list[Document]:
    """~640 words: two thirds everyday words, a third from a Zipf-like long tail."""
    weights = [1 / (rank + 1) for rank in range(len(tail))]
    docs = []
    for _ in range(n):
        common = rng.choices(WORDS, k=430)
        rare = rng.choices(tail, weights=weights, k=210)
        words = common + rare
        rng.shuffle(words)
        docs.append(Document(" ".join(words[:9]).title(), " ".join(words)[:4000]))
    return docs


def make_topics(count: int, rng: random.Random, tail: list[str]) -> dict[str, TopicRule]:
    """~20 terms a topic, drawn from the tail past its 300 commonest words."""
    pool = tail[300:]
    topics = {}
    for i in range(count):
        pick = rng.sample(pool, 22)
        ors = " OR ".join(pick[:12])
        phrases = f'"{pick[12]} {pick[13]}" OR "{pick[14]} {pick[15]}"'
        prefixes = f"{pick[16][:5]}* OR {pick[17][:5]}*"
        near = f"({pick[18]} NEAR/5 {pick[19]})"
        query = f"({ors} OR {phrases} OR {prefixes}) AND ({pick[20]} OR {pick[21]} OR {near} OR {pick[0]})"
        topics[f"topic{i}"] = TopicRule(query=query, threshold=2)
    return topics


def baseline_patterns(topics: dict[str, TopicRule]) -> list[re.Pattern[str]]:
    patterns = []
    for rule in topics.values():
        for raw in re.findall(r'"[^"]+"|[\w*]+', rule.query):
            if raw in ("AND", "OR", "NOT") or raw.startswith("NEAR"):
                continue
            body = raw.strip('"')
            if body.endswith("*"):
                patterns.append(re.compile(r"\b" + re.escape(body[:-1]) + r"\w*", re.IGNORECASE))
            else:
                patterns.append(re.compile(r"\b" + re.escape(body) + r"\b", re.IGNORECASE))
    return patterns


def rate(fn, docs: list[Document], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for doc in docs:
            fn(doc)
        runs.append(len(docs) / (time.perf_counter() - start))
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--baseline-sample", type=int, default=200, help="baseline articles at 100 topics"
    )
    args = parser.parse_args()
    rng = random.Random(7)
    tail = pseudo_words(30_000, rng)
    docs = make_articles(args.n, rng, tail)
    results = {}
    print(f"{args.n} articles of ~{sum(len(d.text) for d in docs[:100]) // 100} characters")
    print(
        f"{'topics':>7} {'ours art/s':>12} {'baseline art/s':>15} {'ratio':>7} {'tags/article':>13}"
    )
    for count in (10, 100, 1000):
        topics = make_topics(count, random.Random(count), tail)
        classifier = compile_rules(topics)
        patterns = baseline_patterns(topics)
        ours = rate(classifier.classify, docs, args.repeat)
        # The baseline's cost grows with the number of terms: fewer articles keep its run short.
        sample = docs[: max(20, args.baseline_sample * 100 // count)]
        base = rate(
            lambda d, p=patterns: [x.search(d.title) or x.search(d.text) for x in p],
            sample,
            args.repeat,
        )
        tags = sum(len(classifier.classify(d)) for d in docs[:200]) / 200
        results[count] = (ours, base)
        print(f"{count:7d} {ours:12.0f} {base:15.1f} {ours / base:7.1f} {tags:13.2f}")
    print(
        json.dumps(
            {
                "articles_per_s_100": round(results[100][0], 1),
                "baseline_articles_per_s_100": round(results[100][1], 1),
                "speedup_1000": round(results[1000][0] / results[1000][1], 1),
                "articles_per_s_1000": round(results[1000][0], 1),
            }
        )
    )


if __name__ == "__main__":
    main()
