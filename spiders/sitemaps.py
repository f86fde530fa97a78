"""Reading news sitemaps (``<urlset>`` with ``<news:news>``) and sitemap indexes.

Parsed with lxml configured never to resolve entities, load DTDs or touch the
network, so a hostile sitemap cannot expand itself or read local files.
"""

from __future__ import annotations

from lxml import etree

from monitor.errors import ParseError
from spiders.feeds import parse_iso_date, plain_text, refuse_entity_declarations
from spiders.items import Entry

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=False
)


def is_sitemap(body: bytes) -> bool:
    head = body[:4096]
    return b"<urlset" in head or b"<sitemapindex" in head


def parse_sitemap(body: bytes, *, max_entries: int) -> tuple[list[Entry], list[str]]:
    """(article entries, child sitemap URLs)."""
    refuse_entity_declarations(body)
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ParseError(f"not a sitemap: malformed XML ({exc})") from exc
    kind = etree.QName(root).localname
    if kind == "sitemapindex":
        children = [_text(node, "loc") for node in _children(root, "sitemap")]
        return [], [url for url in children if url][:max_entries]
    if kind != "urlset":
        raise ParseError(f"not a sitemap: root element is <{kind}>")
    entries = []
    for node in _children(root, "url"):
        url = _text(node, "loc")
        if not url:
            continue
        news = next(_children(node, "news"), None)
        entries.append(
            Entry(
                url=url,
                title=plain_text(_text(news, "title")) if news is not None else "",
                published=parse_iso_date(
                    _text(news, "publication_date") if news is not None else _text(node, "lastmod")
                ),
                language=_text(news, "language", deep=True) if news is not None else None,
            )
        )
    entries.sort(key=lambda e: e.published.timestamp() if e.published else 0, reverse=True)
    return entries[:max_entries], []


def _children(node: etree._Element, localname: str):
    return (child for child in node if etree.QName(child).localname == localname)


def _text(node: etree._Element | None, localname: str, *, deep: bool = False) -> str | None:
    if node is None:
        return None
    candidates = node.iter() if deep else iter(node)
    for child in candidates:
        if isinstance(child.tag, str) and etree.QName(child).localname == localname:
            return (child.text or "").strip() or None
    return None
