"""Slack incoming webhooks: Block Kit messages within Slack's limits, posted with slack-sdk.

Limits we design for (see ../shared/FINDINGS.md): 50 blocks a message, 3,000
characters a section, 150 a header. A digest that does not fit is split into
several messages; the outbox records how many parts went out so a retry
resumes instead of repeating.
"""

from __future__ import annotations

import socket
import ssl
import urllib.error
from typing import Any
from urllib.parse import quote

from slack_sdk.http_retry import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.webhook import WebhookClient

from monitor.alerts.config import SlackChannelConfig
from monitor.alerts.message import Message, StoryItem, when
from monitor.alerts.render import headline
from monitor.errors import DeliveryError
from spiders.middlewares import parse_retry_after

MAX_BLOCKS = 45  # of Slack's 50, leaving room for a header and a footer
MAX_SECTION = 2900
MAX_HEADER = 150
MAX_MESSAGE_CHARS = 12_000


def escape_mrkdwn(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    safe_url = quote(url, safe=":/?#[]@!$&'()*+,;=%~-._")
    return f"<{safe_url}|{escape_mrkdwn(label)}>"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def story_section(story: StoryItem, *, brief: bool = False) -> dict[str, Any]:
    outlets = (
        ", ".join(link(o.url, o.name) if o.url else escape_mrkdwn(o.name) for o in story.outlets)
        or "unknown source"
    )
    lines = [f"*{link(story.url, story.title)}*", f"{outlets} · {when(story.published)}"]
    topics = "  ".join(
        f"`{t.name}` {escape_mrkdwn(', '.join(t.terms))}".rstrip() for t in story.topics
    )
    if topics:
        lines.append(topics)
    if story.snippet and not brief:
        lines.append(f">{escape_mrkdwn(story.snippet)}")
    return {
        "type": "section",
        "text": {"type": "mrkdwn", "text": _clip("\n".join(lines), MAX_SECTION)},
    }


def blocks_for(message: Message) -> list[list[dict[str, Any]]]:
    """The message as one or more block lists, each one Slack message."""
    header = {
        "type": "header",
        "text": {"type": "plain_text", "text": _clip(headline(message), MAX_HEADER)},
    }
    if message.kind != "digest":
        body: list[dict[str, Any]] = [header]
        body.extend(story_section(s) for s in message.stories)
        if message.note:
            body.append(
                {
                    "type": "context",
                    "elements": [{"type": "mrkdwn", "text": escape_mrkdwn(message.note)}],
                }
            )
        return [body]
    sections: list[dict[str, Any]] = []
    for topic, stories in message.by_topic():
        sections.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*{escape_mrkdwn(topic)}* ({len(stories)})"},
            }
        )
        sections.extend(story_section(s, brief=True) for s in stories)
        sections.append({"type": "divider"})
    parts: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for block in sections:
        block_size = len(str(block))
        if current and (len(current) >= MAX_BLOCKS or size + block_size > MAX_MESSAGE_CHARS):
            parts.append(current)
            current, size = [], 0
        current.append(block)
        size += block_size
    if current:
        parts.append(current)
    total = len(parts)
    for number, part in enumerate(parts, 1):
        title = headline(message) + (f" ({number}/{total})" if total > 1 else "")
        part.insert(
            0, {"type": "header", "text": {"type": "plain_text", "text": _clip(title, MAX_HEADER)}}
        )
    return parts or [[header]]


def fallback_text(message: Message) -> str:
    """The notification text (phones, screen readers) that Slack shows instead of blocks."""
    return _clip(headline(message), 300)


class BoundedRateLimitHandler(RateLimitErrorRetryHandler):
    """slack-sdk's 429 handler, but only for short waits: a long Retry-After goes to the outbox.

    The stock handler sleeps whatever the server says (and fails on an HTTP-date);
    a dispatcher thread asleep for an hour would hold every other alert of the channel.
    """

    def __init__(self, max_wait: float, max_retry_count: int = 2) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = parse_retry_after(_header(response.headers, "retry-after"))
        return wait is not None and wait <= self.max_wait and float(wait).is_integer()


def _header(headers: dict[str, Any], name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value[0] if isinstance(value, list) else str(value)
    return None


class SlackChannel:
    def __init__(self, name: str, config: SlackChannelConfig) -> None:
        self.name = name
        self.config = config
        self.client = WebhookClient(
            config.webhook_url,
            timeout=int(max(1, config.timeout)),
            retry_handlers=[
                ConnectionErrorRetryHandler(max_retry_count=1),
                BoundedRateLimitHandler(config.max_rate_limit_wait),
            ],
        )

    def render(self, message: Message) -> list[Any]:
        return [
            {"text": fallback_text(message), "blocks": blocks} for blocks in blocks_for(message)
        ]

    def post(self, part: Any) -> None:
        try:
            response = self.client.send(
                text=part["text"], blocks=part["blocks"], unfurl_links=False, unfurl_media=False
            )
        except (urllib.error.URLError, OSError, ssl.SSLError) as exc:
            raise DeliveryError(f"slack {self.name}: {describe_network_error(exc)}") from None
        status, body = response.status_code, (response.body or "").strip()[:300]
        if status == 200:
            return
        if status == 429:
            wait = parse_retry_after(_header(response.headers, "retry-after"))
            raise DeliveryError(f"slack {self.name}: rate limited (429)", retry_after=wait or 60.0)
        if status >= 500:
            raise DeliveryError(f"slack {self.name}: server error {status}: {body}")
        raise DeliveryError(f"slack {self.name}: refused with {status}: {body}", permanent=True)


def describe_network_error(exc: BaseException) -> str:
    """Name the failure the way an operator fixes it: DNS, refused, timeout, TLS."""
    reason: Any = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, ssl.SSLCertVerificationError):
        why = reason.verify_message
        return f"TLS error: certificate not trusted ({why}; ca_file: can name a private CA)"
    if isinstance(reason, socket.gaierror):
        return "DNS lookup failed (check the host name)"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused (is the server up, the port right?)"
    if isinstance(reason, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(reason, ssl.SSLError):
        return f"TLS error: {reason.reason or reason}"
    return str(reason) or type(reason).__name__
