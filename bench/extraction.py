"""Benchmark: newsmon's article extraction against trafilatura's full cascade.

newsmon runs trafilatura's own extractor and falls back to the full cascade
(readability and jusText compared with it) only where the cascade may choose
differently (``spiders.extract.article_text``). This measures what that saves
and what it costs in quality, against two runs in the same process:

- ``full``: ``bare_extraction(fast=False)`` on every page (the default a user gets);
- ``fast``: ``bare_extraction(fast=True)`` on every page;
- ``newsmon``: the guarded path, as the crawler runs it.

Time is the median over --repeat passes of the mean per page, on the poll
benchmark's article pages and, with --corpus, on a labelled corpus of real pages.
Quality needs the labels: trafilatura's evaluation corpus (``tests/`` of
https://github.com/adbar/trafilatura: ``evaldata.json`` names each page's file
under ``cache/`` or ``eval/``, with passages the main text must contain and
boilerplate it must not). A passage found is a true or a false positive, a
passage missed a false negative; F1 is over all pages. The corpus is not
bundled: its pages are other people's text.

    python bench/extraction.py
    python bench/extraction.py --corpus ../trafilatura/tests
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import trafilatura  # noqa: E402

from bench.sites import article_page  # noqa: E402
from spiders.extract import article_text  # noqa: E402

OPTIONS = {"with_metadata": False, "include_comments": False, "include_tables": True}


def full(tree: Any, url: str) -> Any:
    return trafilatura.bare_extraction(tree, url=url, fast=False, **OPTIONS)


def fast(tree: Any, url: str) -> Any:
    return trafilatura.bare_extraction(tree, url=url, fast=True, **OPTIONS)


WAYS: dict[str, Callable[[Any, str], Any]] = {"full": full, "fast": fast, "newsmon": article_text}


def ms_per_page(pages: list[tuple[str, bytes]], repeat: int) -> dict[str, float]:
    """Median per way over passes that take the ways in turn, so a machine that
    changes speed between passes slows all three alike. Parsing is outside the
    clock: every way starts from the same tree."""
    trees = [(url, trafilatura.load_html(html)) for url, html in pages]
    trees = [(url, tree) for url, tree in trees if tree is not None]
    runs: dict[str, list[float]] = {name: [] for name in WAYS}
    for _ in range(repeat):
        for name, way in WAYS.items():
            start = time.perf_counter()
            for url, tree in trees:
                with contextlib.suppress(Exception):  # a crash costs the page, as in the crawler
                    way(tree, url)
            runs[name].append((time.perf_counter() - start) / len(trees) * 1000)
    return {name: statistics.median(values) for name, values in runs.items()}


def spaces_collapsed(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def passages(labels: dict[str, Any], text: str | None) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) of one page."""
    found = spaces_collapsed(text or "")
    wanted = [spaces_collapsed(p) in found for p in labels["with"]]
    unwanted = [spaces_collapsed(p) in found for p in labels["without"]]
    return sum(wanted), sum(unwanted), len(wanted) - sum(wanted)


def f1(way: Callable[[Any, str], Any], corpus: list[tuple[str, bytes, dict]]) -> float:
    """Over all passages of all pages, so a long page weighs no more than its labels."""
    tp = fp = fn = 0
    for url, html, labels in corpus:
        tree = trafilatura.load_html(html)
        try:
            document = way(tree, url) if tree is not None else None
        except Exception:
            document = None
        t, f, n = passages(labels, document.text if document is not None else None)
        tp, fp, fn = tp + t, fp + f, fn + n
    return 2 * tp / (2 * tp + fp + fn)


def load_corpus(root: Path) -> list[tuple[str, bytes, dict]]:
    labels = json.loads((root / "evaldata.json").read_text(encoding="utf-8"))
    corpus = []
    for url, item in sorted(labels.items()):
        for folder in ("cache", "eval"):
            path = root / folder / item["file"]
            if path.is_file():
                corpus.append((url, path.read_bytes(), item))
                break
    return corpus


def cascade_share(corpus: list[tuple[str, bytes, dict]]) -> float:
    """How often the guarded path runs the full cascade."""
    from spiders.extract import needs_full_cascade

    ran = 0
    for url, html, _ in corpus:
        tree = trafilatura.load_html(html)
        if tree is None:
            continue
        document = fast(tree, url)
        ran += document is None or needs_full_cascade(document.body, document.text or "", tree)
    return ran / len(corpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, help="trafilatura's tests/ folder (evaldata.json)")
    parser.add_argument("--repeat", type=int, default=3, help="passes over the pages")
    args = parser.parse_args()

    small = [
        (f"http://127.0.0.2/a/{f}/{e}.html", article_page(f, e))
        for f in range(10)
        for e in range(20)
    ]
    result: dict[str, Any] = {"bench_pages": len(small)}
    times = ms_per_page(small, args.repeat)
    for name, value in times.items():
        print(f"bench pages   {name:8} {value:7.2f} ms/page  {times['full'] / value:5.2f}x full")
    result["bench_ms"] = {k: round(v, 3) for k, v in times.items()}

    if args.corpus:
        corpus = load_corpus(args.corpus)
        pages = [(url, html) for url, html, _ in corpus]
        real = ms_per_page(pages, args.repeat)
        scores = {name: f1(way, corpus) for name, way in WAYS.items()}
        for name in WAYS:
            print(
                f"corpus pages  {name:8} {real[name]:7.2f} ms/page  "
                f"{real['full'] / real[name]:5.2f}x full  F1 {scores[name]:.4f}"
            )
        share = cascade_share(corpus)
        print(f"newsmon ran the full cascade on {share:.1%} of {len(corpus)} pages")
        result.update(
            corpus_pages=len(corpus),
            corpus_ms={k: round(v, 3) for k, v in real.items()},
            f1={k: round(v, 4) for k, v in scores.items()},
            cascade_share=round(share, 4),
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
