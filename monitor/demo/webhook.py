"""A loopback stand-in for a Slack incoming webhook, for tests and benchmarks.

It answers like Slack does: ``200 ok`` for a valid Block Kit message,
``400 invalid_blocks`` (and similar) for one Slack would refuse, and whatever
scripted failures a test queues first (``429`` with ``Retry-After``, ``500``).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

MAX_BLOCKS = 50


@dataclass
class Reply:
    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Post:
    at: float
    payload: dict[str, Any]
    accepted: bool


def block_kit_problem(payload: Any) -> str | None:
    """Why Slack would refuse this webhook payload, or None if it would take it."""
    if not isinstance(payload, dict):
        return "invalid_payload"
    blocks = payload.get("blocks")
    if not payload.get("text") and not blocks:
        return "no_text"
    if blocks is None:
        return None
    if not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
        return "invalid_blocks"
    for block in blocks:
        try:
            parsed = Block.parse(block)
            if parsed is None or type(parsed) is Block:
                return "invalid_blocks"
            parsed.validate_json()
        except (SlackObjectFormationError, KeyError, TypeError, ValueError):
            return "invalid_blocks"
    return None


class WebhookReceiver:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        path: str = "/services/T0/B0/secret",
        block_kit: bool = True,
    ):
        """``block_kit=False`` takes any JSON (for Apprise's json:// and other generic posts)."""
        self.path = path
        self.block_kit = block_kit
        self.script: deque[Reply] = deque()
        self.posts: list[Post] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, port), self._handler_class())
        self._httpd.daemon_threads = True
        self._httpd.request_queue_size = 256

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{self.path}"

    @property
    def accepted(self) -> list[dict[str, Any]]:
        with self._lock:
            return [p.payload for p in self.posts if p.accepted]

    def start(self) -> WebhookReceiver:
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _answer(self, raw: bytes) -> Reply:
        with self._lock:
            scripted = self.script.popleft() if self.script else None
        if scripted is not None:
            return scripted
        try:
            payload = json.loads(raw)
        except ValueError:
            return Reply(400, "invalid_payload")
        problem = block_kit_problem(payload) if self.block_kit else None
        return Reply(400, problem) if problem else Reply()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path != receiver.path:
                    reply = Reply(404, "no_service")
                else:
                    reply = receiver._answer(raw)
                if self.path == receiver.path:
                    try:
                        payload = json.loads(raw)
                    except ValueError:
                        payload = {"raw": raw.decode(errors="replace")}
                    with receiver._lock:
                        receiver.posts.append(Post(time.time(), payload, reply.status == 200))
                body = reply.body.encode()
                self.send_response(reply.status)
                for name, value in {"Content-Type": "text/plain", **reply.headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler
