"""Article pages the extraction tests share: crafted ones, the demo's, the bench's."""

from __future__ import annotations

from bench.sites import article_page as bench_page
from monitor.demo.site import build_routes

BASE = "http://127.0.0.1:9"


def html_pages(crafted: dict[str, str]) -> list[tuple[str, str, str]]:
    """(name, url, html) for each crafted page, every demo HTML page and three bench pages."""
    pages = [
        (name, f"{BASE}/crafted/{i}.html", html) for i, (name, html) in enumerate(crafted.items())
    ]
    for path, route in sorted(build_routes(BASE).items()):
        if route.headers.get("Content-Type", "").startswith("text/html"):
            pages.append((path, BASE + path, route.body.decode()))
    pages += [(f"bench {i}", f"{BASE}/a/{i}/3.html", bench_page(i, 3).decode()) for i in range(3)]
    return pages


def demo_articles() -> list[str]:
    return [
        route.body.decode()
        for path, route in build_routes(BASE).items()
        if route.headers.get("Content-Type", "").startswith("text/html") and "/2026/" in path
    ]
