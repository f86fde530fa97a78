"""Canonical URLs and content fingerprints: how newsmon knows two things are one article.

The same article arrives as ``…/story?utm_source=rss``, ``…/story#comments`` and
``HTTP://Example.com:80/story``; all three canonicalise to one string. When
URLs differ entirely (a syndicated copy), the text fingerprint catches it.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid",
        "mc_cid", "mc_eid", "_ga", "_gl", "igshid", "ocid", "cmpid", "cmp", "smid",
        "soc_src", "soc_trk", "ito", "at_medium", "at_campaign", "rss", "feed", "ns_mchannel",
        "ns_source", "ns_campaign", "ns_linkname", "spm", "share", "rpc", "taid", "ref_src",
    }
)  # fmt: skip
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_", "oly_", "vero_")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_WORDS = re.compile(r"[^\W_]+", re.UNICODE)
_WIRE_PREFIX = re.compile(
    r"^(?:wire|update[d]?|exclusive|breaking|analysis|reuters|ap|afp|kyodo|bernama|antara|"
    r"jiji|nikkei|bloomberg|factbox|explainer)\s*[:|–—-]\s*",
    re.IGNORECASE,
)
MIN_FINGERPRINT_CHARS = 200


def canonical_url(url: str) -> str:
    """Scheme and host lower-cased, default port, fragment and tracking parameters dropped."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    query = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if key.lower() not in TRACKING_PARAMS and not key.lower().startswith(TRACKING_PREFIXES)
    ]
    path = parts.path or "/"
    return urlunsplit((scheme, netloc, path, urlencode(query, doseq=True), ""))


def fold(text: str) -> str:
    """Case-, accent- and width-insensitive form used for fingerprints and keys."""
    normalised = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in normalised if not unicodedata.combining(ch))


def content_fingerprint(title: str, text: str) -> str | None:
    """Same words in the same order → same fingerprint; None for texts too short to trust."""
    if len(text) < MIN_FINGERPRINT_CHARS:
        return None
    words = _WORDS.findall(text.casefold())
    return hashlib.sha256(" ".join(words).encode()).hexdigest()


def title_key(title: str) -> str | None:
    """Key under which near-identical headlines of one story meet (None: too generic)."""
    stripped = _WIRE_PREFIX.sub("", title.strip())
    words = _WORDS.findall(fold(stripped))
    if len(words) < 4 and sum(len(w) for w in words) < 24:
        return None
    return " ".join(words)[:300]
