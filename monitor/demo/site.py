"""The demo's fictional news web, rendered from ``stories.yaml`` into server routes.

Each outlet gets the page furniture a real site has (navigation, related links,
newsletter box, footer) so extraction has boilerplate to strip, and the feed
format its kind calls for: RSS 2.0, Atom 1.0, JSON Feed 1.1, a Google News
sitemap, or a press-release listing page with no feed at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from html import escape
from pathlib import Path
from typing import Any

import yaml

from monitor.demo.server import Route

STORIES = Path(__file__).with_name("stories.yaml")
BROKEN_FEED = (
    b'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>Broken'
    b" Feed</title><item><title>Half an ite\xff\xfe<link>http://"
)
SHELL_PAGE = (
    "<!doctype html><html><head><title>Loading…</title></head><body><div id='app'></div>"
    "<script src='/static/app.js'></script></body></html>"
)
FOOTER_NOTE = "Fictional demo content for newsmon. No event described here took place."
CONTENT = {
    "html": "text/html; charset=utf-8",
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
    "xml": "application/xml; charset=utf-8",
}


@dataclass(frozen=True)
class Story:
    outlet: str
    slug: str
    title: str
    date: datetime
    author: str
    lang: str
    body: tuple[str, ...]
    summary: str
    page: str
    syndicated: str | None
    expect: tuple[str, ...]

    @property
    def path(self) -> str:
        return f"/{self.outlet}/2026/11/{self.slug}.html"


def load_stories() -> tuple[dict[str, dict[str, str]], list[Story]]:
    data = yaml.safe_load(STORIES.read_text(encoding="utf-8"))
    stories = [
        Story(
            outlet=s["outlet"],
            slug=s["slug"],
            title=s["title"],
            date=datetime.fromisoformat(str(s["date"]).replace("Z", "+00:00")),
            author=s.get("author", "Staff"),
            lang=s.get("lang", "en"),
            body=tuple(s.get("body", ())),
            summary=s.get("summary") or (s["body"][0] if s.get("body") else ""),
            page=s.get("page", "article"),
            syndicated=s.get("syndicated"),
            expect=tuple(s.get("expect", ())),
        )
        for s in data["stories"]
    ]
    return data["outlets"], stories


def build_routes(base: str) -> dict[str, Route]:
    outlets, stories = load_stories()
    routes: dict[str, Route] = {
        "/robots.txt": Route(
            body=b"User-agent: *\nAllow: /\n", headers={"Content-Type": "text/plain"}
        ),
        "/brokenfeed/feed.xml": Route(body=BROKEN_FEED, headers={"Content-Type": CONTENT["rss"]}),
    }
    canonical = _syndication_originals(stories, base)
    for story in stories:
        if story.page == "shell":
            routes[story.path] = Route(
                body=SHELL_PAGE.encode(), headers={"Content-Type": CONTENT["html"]}
            )
        elif story.page == "article":
            html = article_page(
                outlets[story.outlet]["name"], story, base, canonical.get(story.slug)
            )
            routes[story.path] = Route(
                body=html.encode(), headers={"Content-Type": CONTENT["html"]}
            )
    for key, outlet in outlets.items():
        own = sorted((s for s in stories if s.outlet == key), key=lambda s: s.date, reverse=True)
        path, body, kind = render_feed(key, outlet, own, base)
        routes[path] = Route(body=body.encode(), headers={"Content-Type": CONTENT[kind]})
    routes["/index.html"] = Route(
        body=_index(outlets).encode(), headers={"Content-Type": CONTENT["html"]}
    )
    return routes


def demo_source_list(base: str) -> list[dict[str, Any]]:
    outlets, _stories = load_stories()
    feed_paths = {"rss": "feed.xml", "atom": "atom.xml", "json": "feed.json",
                  "sitemap": "news-sitemap.xml", "listing": "press.html"}  # fmt: skip
    sources = []
    for key, outlet in outlets.items():
        source: dict[str, Any] = {
            "name": outlet["name"],
            "url": f"{base}/{key}/{feed_paths[outlet['feed']]}",
        }
        if outlet["feed"] == "sitemap":
            source["kind"] = "sitemap"
        if outlet["feed"] == "listing":
            source.update(kind="listing", link_selector="ul.press-list a.press-link")
        sources.append(source)
    sources.append({"name": "Broken Feed", "url": f"{base}/brokenfeed/feed.xml"})
    return sources


def _syndication_originals(stories: list[Story], base: str) -> dict[str, str]:
    """Copies of type (a) point their rel=canonical at the first outlet's page."""
    originals = {}
    first = next((s for s in stories if s.syndicated == "a"), None)
    for story in stories:
        if story.syndicated == "a" and first is not None and story is not first:
            originals[story.slug] = base + first.path
    return originals


def article_page(outlet: str, story: Story, base: str, canonical: str | None) -> str:
    url = canonical or base + story.path
    paragraphs = "\n".join(f"<p>{escape(p)}</p>" for p in story.body)
    menu = "".join(f'<li><a href="/{s.lower()}/">{s}</a></li>' for s in
                   ("World", "Asia", "Europe", "Markets", "Energy", "Opinion", "Video"))  # fmt: skip
    return f"""<!doctype html>
<html lang="{story.lang}">
<head>
<meta charset="utf-8">
<title>{escape(story.title)} | {escape(outlet)}</title>
<meta name="description" content="{escape(story.summary[:160])}">
<meta property="og:title" content="{escape(story.title)}">
<meta name="author" content="{escape(story.author)}">
<meta property="article:published_time" content="{story.date.isoformat()}">
<link rel="canonical" href="{escape(url)}">
<style>body{{font-family:Georgia,serif;max-width:46em;margin:auto}}nav li{{display:inline}}</style>
</head>
<body>
<header><a class="logo" href="/">{escape(outlet)}</a><nav><ul>{menu}</ul></nav>
<form class="search"><input name="q" placeholder="Search"></form></header>
<main>
<article>
<h1>{escape(story.title)}</h1>
<p class="byline">By {escape(story.author)} · <time datetime="{story.date.isoformat()}">{story.date:%d %B %Y}</time></p>
{paragraphs}
</article>
<aside class="related"><h2>Related</h2><ul>
<li><a href="/markets/">Metals prices at a glance</a></li><li><a href="/asia/">More from Asia</a></li>
</ul></aside>
<section class="newsletter"><h2>Get the morning briefing</h2><form><input name="email"><button>Sign up</button></form></section>
</main>
<footer><p>© 2026 {escape(outlet)}. All rights reserved. <a href="/privacy">Privacy</a> · <a href="/terms">Terms</a></p>
<p>{FOOTER_NOTE}</p></footer>
</body>
</html>"""


def render_feed(
    key: str, outlet: dict[str, str], stories: list[Story], base: str
) -> tuple[str, str, str]:
    name, kind = outlet["name"], outlet["feed"]
    if kind == "rss":
        items = "".join(
            f"<item><title>{escape(s.title)}</title>"
            f"<link>{base}{s.path}{_tracking(i)}</link><guid isPermaLink='false'>{key}-{s.slug}</guid>"
            f"<pubDate>{format_datetime(s.date)}</pubDate><dc:creator>{escape(s.author)}</dc:creator>"
            f"<description>{escape(s.summary)}</description></item>"
            for i, s in enumerate(stories)
        )
        body = (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
            f"<title>{escape(name)}</title><link>{base}/{key}/</link>"
            f"<description>{escape(name)} — {FOOTER_NOTE}</description><language>en</language>{items}"
            "</channel></rss>"
        )
        return f"/{key}/feed.xml", body, "rss"
    if kind == "atom":
        entries = "".join(
            f'<entry xml:lang="{s.lang}"><title>{escape(s.title)}</title>'
            f'<link rel="alternate" href="{base}{s.path}"/><id>tag:{key}.demo,2026:{s.slug}</id>'
            f"<updated>{s.date.isoformat()}</updated><published>{s.date.isoformat()}</published>"
            f"<author><name>{escape(s.author)}</name></author><summary>{escape(s.summary)}</summary></entry>"
            for s in stories
        )
        body = (
            '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>{escape(name)}</title><id>tag:{key}.demo,2026:feed</id>"
            f'<link rel="self" href="{base}/{key}/atom.xml"/><updated>{stories[0].date.isoformat()}</updated>'
            f"{entries}</feed>"
        )
        return f"/{key}/atom.xml", body, "atom"
    if kind == "json":
        feed = {
            "version": "https://jsonfeed.org/version/1.1",
            "title": name,
            "home_page_url": f"{base}/{key}/",
            "feed_url": f"{base}/{key}/feed.json",
            "description": FOOTER_NOTE,
            "language": "en",
            "items": [
                {"id": f"{key}-{s.slug}", "url": base + s.path, "title": s.title,
                 "summary": s.summary, "content_text": s.summary,
                 "date_published": s.date.isoformat(), "authors": [{"name": s.author}]}
                for s in stories
            ],
        }  # fmt: skip
        return f"/{key}/feed.json", json.dumps(feed, ensure_ascii=False, indent=1), "json"
    if kind == "sitemap":
        urls = "".join(
            f"<url><loc>{base}{s.path}</loc><news:news><news:publication><news:name>{escape(name)}"
            f"</news:name><news:language>{s.lang}</news:language></news:publication>"
            f"<news:publication_date>{s.date.isoformat()}</news:publication_date>"
            f"<news:title>{escape(s.title)}</news:title></news:news></url>"
            for s in stories
        )
        body = (
            '<?xml version="1.0" encoding="utf-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
            f'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">{urls}</urlset>'
        )
        return f"/{key}/news-sitemap.xml", body, "xml"
    items = "".join(
        f'<li><a class="press-link" href="{s.path}">{escape(s.title)}</a> '
        f'<time datetime="{s.date:%Y-%m-%d}">{s.date:%d %B %Y}</time></li>'
        for s in stories
    )
    body = (
        f'<!doctype html><html lang="id"><head><meta charset="utf-8"><title>{escape(name)} — Press Releases'
        "</title></head><body><header><nav><a href='/mofa/about-the-ministry.html'>About the ministry and its"
        " history</a> <a href='/mofa/consular-services-for-citizens.html'>Consular services for citizens abroad"
        f"</a></nav></header><main><h1>Press Releases</h1><ul class='press-list'>{items}</ul></main>"
        "<footer><a href='/mofa/contact-and-opening-hours.html'>Contact details and opening hours</a>"
        f"<p>{FOOTER_NOTE}</p></footer></body></html>"
    )
    return f"/{key}/press.html", body, "html"


def _tracking(index: int) -> str:
    """Real feeds decorate links; the demo shows they are cleaned before dedup."""
    return {0: "?utm_source=rss&utm_medium=feed", 1: "#comments"}.get(index, "")


def _index(outlets: dict[str, dict[str, str]]) -> str:
    links = "".join(
        f'<li><a href="/{key}/">{escape(o["name"])}</a></li>' for key, o in outlets.items()
    )
    return f"<!doctype html><html><body><h1>newsmon demo sites</h1><ul>{links}</ul><p>{FOOTER_NOTE}</p></body></html>"
