"""Reading feeds: RSS 0.9x/1.0/2.0 and Atom through feedparser, JSON Feed by hand.

feedparser is given the body as a stream and the HTTP headers in lower case:
given bytes that look like a path it would read a local file, and it only
honours lower-case header names (so a charset sent only in Content-Type would
be lost and the feed decoded as mojibake).
"""

from __future__ import annotations

import calendar
import html
import io
import json
import re
from datetime import UTC, datetime
from typing import Any

import feedparser

from monitor.errors import ParseError
from spiders.items import Entry

_TAG = re.compile(r"<[^>]+>")
_NOT_TEXT = re.compile(
    r"<(script|style|template)\b[^>]*>.*?(?:</\1\s*>|\Z)|<!--.*?(?:-->|\Z)",
    re.IGNORECASE | re.DOTALL,
)
_SPACE = re.compile(r"\s+")
_ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)


def plain_text(markup: str | None) -> str:
    """Markup reduced to readable one-line text (feeds put HTML in summaries).

    Scripts, styles and comments go with their content. feedparser's sanitiser
    already drops them from RSS and Atom; JSON Feed's ``content_html`` reaches
    here as the publisher wrote it.
    """
    if not markup:
        return ""
    text = _TAG.sub(" ", _NOT_TEXT.sub(" ", markup))
    return _SPACE.sub(" ", html.unescape(text)).strip()


def looks_like_json(body: bytes, content_type: str) -> bool:
    return "json" in content_type.lower() or body.lstrip()[:1] == b"{"


def parse_feed(
    body: bytes, *, url: str, headers: dict[str, str], max_entries: int
) -> tuple[list[Entry], str]:
    """The entries of a feed and its format name; ParseError when it is not a feed."""
    content_type = headers.get("content-type", "")
    if looks_like_json(body, content_type):
        return parse_json_feed(body, max_entries=max_entries), "json"
    refuse_entity_declarations(body)
    if not content_type:
        # An unlabelled document is read as XML says (BOM, then declaration, then UTF-8);
        # feedparser would otherwise assume ISO-8859-1 and flag the feed as broken.
        headers = {**headers, "content-type": "application/xml"}
    parsed = feedparser.parse(
        io.BytesIO(body),
        response_headers={**headers, "content-location": url},
        # Only plain text is kept (plain_text), so links inside entries' markup need
        # no resolving: a fifth of feedparser's time on a feed with full-text entries.
        resolve_relative_uris=False,
    )
    if not parsed.entries and (not parsed.version or parsed.get("bozo")):
        raise ParseError(_why_not_a_feed(body, parsed))
    language = parsed.feed.get("language")
    entries = [_entry_from_feedparser(raw, language) for raw in parsed.entries[:max_entries]]
    usable = [e for e in entries if e.url or e.guid or e.title]
    if parsed.get("bozo") and not usable:
        raise ParseError(_why_not_a_feed(body, parsed))
    return usable, parsed.version or "unknown"


def refuse_entity_declarations(body: bytes) -> None:
    """Feeds have no business declaring entities; those that do are expansion attacks."""
    if _ENTITY_DECL.search(body[:65536]):
        raise ParseError(
            "the document declares XML entities (an entity-expansion attack?); refused"
        )


def _why_not_a_feed(body: bytes, parsed: Any) -> str:
    head = body[:2048].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return "not a feed: the server sent an HTML page (is there a feed link on it?)"
    if not body.strip():
        return "not a feed: the response body is empty"
    problem = parsed.get("bozo_exception")
    if problem is not None:
        return f"not a feed: malformed XML ({_short(problem)})"
    return "not a feed: no RSS, Atom or JSON Feed structure found"


def _short(problem: object) -> str:
    text = str(problem).strip() or type(problem).__name__
    return text.splitlines()[0][:200]


def _entry_from_feedparser(raw: Any, feed_language: str | None) -> Entry:
    link = raw.get("link") or next(
        (item.get("href") for item in raw.get("links", []) if item.get("href")), None
    )
    guid = raw.get("id")
    if not link and guid and str(guid).startswith(("http://", "https://")):
        link = guid
    summary = raw.get("summary") or ""
    if not summary and raw.get("content"):
        summary = raw["content"][0].get("value", "")
    when = raw.get("published_parsed") or raw.get("updated_parsed")
    detail = raw.get("title_detail") or {}
    return Entry(
        url=web_url(link),
        guid=guid,
        title=plain_text(raw.get("title")),
        summary=plain_text(summary),
        published=datetime.fromtimestamp(calendar.timegm(when), UTC) if when else None,
        author=raw.get("author"),
        language=detail.get("language") or feed_language,
    )


def web_url(value: object) -> str | None:
    """Only http(s) links are followed; ``tag:`` ids and the like are identities, not URLs."""
    if isinstance(value, str) and value.strip().lower().startswith(("http://", "https://")):
        return value.strip()
    return None


def parse_json_feed(body: bytes, *, max_entries: int) -> list[Entry]:
    """JSON Feed 1.0/1.1 (feedparser 6 does not read it)."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParseError(f"not a feed: invalid JSON ({exc})") from exc
    if not isinstance(document, dict) or not str(document.get("version", "")).startswith(
        "https://jsonfeed.org/version/"
    ):
        raise ParseError("not a feed: JSON without a jsonfeed.org version")
    items = document.get("items")
    if not isinstance(items, list):
        raise ParseError("not a feed: JSON Feed without an items list")
    language = document.get("language")
    return [_json_entry(item, language) for item in items[:max_entries] if isinstance(item, dict)]


def _json_entry(item: dict[str, Any], language: str | None) -> Entry:
    authors = item.get("authors") or ([item["author"]] if item.get("author") else [])
    author = next((a.get("name") for a in authors if isinstance(a, dict) and a.get("name")), None)
    summary = item.get("summary") or item.get("content_text") or item.get("content_html") or ""
    return Entry(
        url=web_url(item.get("url") or item.get("external_url")),
        guid=str(item["id"]) if item.get("id") is not None else None,
        title=plain_text(str(item.get("title") or "")),
        summary=plain_text(str(summary)),
        published=parse_iso_date(item.get("date_published") or item.get("date_modified")),
        author=author,
        language=item.get("language") or language,
    )


def parse_iso_date(value: object) -> datetime | None:
    """RFC 3339 / ISO 8601 to aware UTC; None when absent or unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
