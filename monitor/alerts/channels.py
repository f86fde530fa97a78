"""Channels: turn a :class:`Message` into the posts a service takes, and post them.

Every channel has the same two methods: ``render(message)`` returns the posts
(usually one; a long Slack digest several) and ``post(part)`` delivers one or
raises :class:`DeliveryError` saying whether retrying can help.
"""

from __future__ import annotations

import hashlib
import json
import smtplib
import ssl
import sys
import threading
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, Protocol, TextIO

from monitor.alerts.config import (
    AppriseChannelConfig,
    ChannelConfig,
    ConsoleChannelConfig,
    EmailChannelConfig,
    FileChannelConfig,
    SlackChannelConfig,
)
from monitor.alerts.message import Message
from monitor.alerts.render import headline, html, plain_text, subject
from monitor.alerts.slack import SlackChannel, describe_network_error
from monitor.errors import ConfigError, DeliveryError


class Channel(Protocol):
    name: str

    def render(self, message: Message) -> list[Any]: ...

    def post(self, part: Any) -> None: ...


class EmailChannel:
    """SMTP with STARTTLS, implicit TLS or neither; one multipart (text + HTML) mail per message."""

    def __init__(self, name: str, config: EmailChannelConfig) -> None:
        self.name = name
        self.config = config

    def render(self, message: Message, *, message_key: str | None = None) -> list[Any]:
        mail = EmailMessage()
        mail["Subject"] = subject(message, self.config.subject, self.config.digest_subject)
        mail["From"] = self.config.sender
        mail["To"] = ", ".join(self.config.to)
        mail["Date"] = formatdate(localtime=False)
        domain = self.config.sender.rsplit("@", 1)[-1]
        if message_key:  # the same alert retried is the same mail: clients can fold a duplicate
            digest = hashlib.sha256(message_key.encode()).hexdigest()[:32]
            mail["Message-ID"] = f"<{digest}.newsmon@{domain}>"
        else:
            mail["Message-ID"] = make_msgid("newsmon", domain=domain)
        mail.set_content(plain_text(message))
        mail.add_alternative(html(message), subtype="html")
        return [mail.as_string()]

    def post(self, part: Any) -> None:
        config = self.config
        try:
            context = ssl.create_default_context(cafile=config.ca_file)
            if config.security == "tls":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    config.host, config.port, timeout=config.timeout, context=context
                )
            else:
                client = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
            with client:
                if config.security == "starttls":
                    client.starttls(context=context)
                if config.username and config.password:
                    client.login(config.username, config.password)
                refused = client.sendmail(config.sender, config.to, part)
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(
                f"email {self.name}: login refused by {config.host} ({exc.smtp_code})",
                permanent=True,
            ) from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(
                f"email {self.name}: every recipient refused: {', '.join(exc.recipients)}",
                permanent=True,
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(
                f"email {self.name}: {config.host}: {exc} (check security: and port:)",
                permanent=True,
            ) from None
        except smtplib.SMTPResponseException as exc:
            text = (
                exc.smtp_error.decode(errors="replace")
                if isinstance(exc.smtp_error, bytes)
                else exc.smtp_error
            )
            raise DeliveryError(
                f"email {self.name}: {config.host} answered {exc.smtp_code} {text}",
                permanent=500 <= exc.smtp_code < 600,
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            where = f"{config.host}:{config.port}"
            raise DeliveryError(
                f"email {self.name}: {where}: {describe_network_error(exc)}"
            ) from None
        if refused:
            # Some recipients took it: retrying would mail them twice, so this counts as sent.
            return


class ConsoleChannel:
    _lock = threading.Lock()

    def __init__(self, name: str, stream: TextIO | None = None) -> None:
        self.name = name
        self.stream = stream

    def render(self, message: Message) -> list[Any]:
        return [plain_text(message)]

    def post(self, part: Any) -> None:
        stream = self.stream or sys.stdout
        with self._lock:
            stream.write(f"--- alert via {self.name} ---\n{part}\n")
            stream.flush()


class FileChannel:
    """One JSON object a line: {channel, kind, route, headline, text, message}."""

    def __init__(self, name: str, config: FileChannelConfig, base: Path | None = None) -> None:
        self.name = name
        path = Path(config.path).expanduser()
        self.path = path if path.is_absolute() or base is None else base / path
        self._lock = threading.Lock()

    def render(self, message: Message) -> list[Any]:
        record = {
            "channel": self.name, "kind": message.kind, "route": message.route,
            "headline": headline(message), "text": plain_text(message),
            "message": message.to_json(),
        }  # fmt: skip
        return [json.dumps(record, ensure_ascii=False)]

    def post(self, part: Any) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock, self.path.open("a", encoding="utf-8") as handle:
                handle.write(part + "\n")
        except OSError as exc:
            raise DeliveryError(
                f"file {self.name}: cannot write {self.path}: {exc.strerror}"
            ) from None


class AppriseChannel:
    def __init__(self, name: str, config: AppriseChannelConfig) -> None:
        try:
            import apprise
        except ModuleNotFoundError:
            raise ConfigError(
                f"channel {name!r} needs Apprise: pip install 'newsmon[apprise]'"
            ) from None
        self.name = name
        self.apprise = apprise.Apprise()
        for url in config.urls:
            if not self.apprise.add(url):
                raise ConfigError(f"channel {name!r}: Apprise does not understand one of its urls")

    def render(self, message: Message) -> list[Any]:
        return [{"title": headline(message)[:250], "body": plain_text(message)}]

    def post(self, part: Any) -> None:
        if not self.apprise.notify(title=part["title"], body=part["body"]):
            raise DeliveryError(f"apprise {self.name}: the service did not take the message")


def open_channel(name: str, config: ChannelConfig, *, base: Path | None = None) -> Channel:
    """The channel object for a configured channel (``base``: folder for relative file paths)."""
    if isinstance(config, EmailChannelConfig):
        return EmailChannel(name, config)
    if isinstance(config, SlackChannelConfig):
        return SlackChannel(name, config)
    if isinstance(config, ConsoleChannelConfig):
        return ConsoleChannel(name)
    if isinstance(config, FileChannelConfig):
        return FileChannel(name, config, base)
    if isinstance(config, AppriseChannelConfig):
        return AppriseChannel(name, config)
    raise ConfigError(f"channel {name!r}: unknown type")


def render_for(channel: Channel, message: Message, key: str) -> list[Any]:
    """Render, giving email its stable Message-ID."""
    if isinstance(channel, EmailChannel):
        return channel.render(message, message_key=key)
    return channel.render(message)


__all__ = ["Channel", "open_channel", "render_for"]
