"""Logging for people (default) or machines (``--log-format json``).

Log lines pass through :func:`redact`, so a webhook token or SMTP password that
slipped into an exception message never reaches a log file.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

_SECRETS = [
    (re.compile(r"(hooks\.slack\.com/services/)[A-Za-z0-9/_-]+"), r"\1…"),
    (re.compile(r"(://[^/\s:@]+:)[^@\s/]+@"), r"\1…@"),
    (re.compile(r"(?i)((?:password|passwd|token|secret|api[_-]?key)\s*[=:]\s*)\S+"), r"\1…"),
]
_registered: set[str] = set()


def register_secret(value: str | None) -> None:
    """Values from the config that must never be printed (passwords, webhook URLs)."""
    if value and len(value) >= 6:
        _registered.add(value)


def redact(text: str) -> str:
    for secret in _registered:
        if secret in text:
            text = text.replace(secret, "…")
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class _HumanFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if record.exc_info:
            payload["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(payload, ensure_ascii=False)


def setup_logging(fmt: str = "text", level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(
            _HumanFormatter(
                "%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"
            )
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in (
        "scrapy",
        "twisted",
        "apscheduler.executors",
        "trafilatura",
        "htmldate",
        "filelock",
        "alembic",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("apscheduler.scheduler").setLevel(logging.WARNING)
    # slack-sdk logs every failed post at ERROR; the dispatcher reports each failure itself.
    logging.getLogger("slack_sdk").setLevel(logging.CRITICAL)
