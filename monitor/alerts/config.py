"""The ``alerts:`` section: channels (where messages go), routes (what goes where, when).

Kept apart from :mod:`monitor.config` because it is a language of its own: a
route reads like "ev_supply_chain stories scoring ≥ 2 go to #ev-desk at once,
at most 20 an hour, the rest in the hourly digest".
"""

from __future__ import annotations

import re
import string
from datetime import tzinfo
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

SUBJECT_FIELDS = frozenset({"title", "topics", "route", "source", "count"})
DEFAULT_SUBJECT = "[newsmon] {topics}: {title}"
DEFAULT_DIGEST_SUBJECT = "[newsmon] {route}: {count} new stories"
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _all_or_list(value: Any) -> Any:
    return value if value == "all" else _as_list(value)


def _check_template(value: str) -> str:
    for _text, field, _spec, _conv in string.Formatter().parse(value):
        if field is not None and field not in SUBJECT_FIELDS:
            allowed = ", ".join("{" + f + "}" for f in sorted(SUBJECT_FIELDS))
            raise ValueError(f"unknown placeholder {{{field}}}; use {allowed}")
    return value


def _check_address(value: str) -> str:
    if not _EMAIL.match(value.strip()):
        raise ValueError(f"{value!r} is not an email address")
    return value.strip()


Address = Annotated[str, BeforeValidator(lambda v: _check_address(str(v)))]
Template = Annotated[str, BeforeValidator(lambda v: _check_template(str(v)))]


class EmailChannelConfig(_Strict):
    type: Literal["email"]
    host: str = Field(min_length=1)
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: str | None = None
    sender: Address = Field(alias="from")
    to: Annotated[list[Address], BeforeValidator(_as_list)] = Field(min_length=1)
    subject: Template = DEFAULT_SUBJECT
    digest_subject: Template = DEFAULT_DIGEST_SUBJECT
    timeout: float = Field(30.0, gt=0, le=300)
    ca_file: str | None = Field(
        None, description="PEM bundle to trust instead of the system's (a private relay's CA)"
    )

    @model_validator(mode="after")
    def _login_pair(self) -> EmailChannelConfig:
        if bool(self.username) != bool(self.password):
            raise ValueError(
                "give both username and password (password: ${SMTP_PASSWORD}), or neither"
            )
        return self


class SlackChannelConfig(_Strict):
    type: Literal["slack"]
    webhook_url: str
    timeout: float = Field(15.0, gt=0, le=120)
    max_rate_limit_wait: float = Field(
        10.0, ge=0, le=120, description="longer Retry-After values go back to the outbox"
    )

    @field_validator("webhook_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value.strip()):
            raise ValueError("not an http(s) URL (Slack: https://hooks.slack.com/services/…)")
        return value.strip()


class ConsoleChannelConfig(_Strict):
    """Prints the plain-text message; what the demo uses, and handy while writing routes."""

    type: Literal["console"]


class FileChannelConfig(_Strict):
    """Appends one JSON object a message to a file, for scripts that want alerts as data."""

    type: Literal["file"]
    path: str = Field(min_length=1)


class AppriseChannelConfig(_Strict):
    """Any Apprise URL (Teams, Telegram, Discord, ntfy …); needs the ``apprise`` extra."""

    type: Literal["apprise"]
    urls: Annotated[list[str], BeforeValidator(_as_list)] = Field(min_length=1)


ChannelConfig = Annotated[
    EmailChannelConfig
    | SlackChannelConfig
    | ConsoleChannelConfig
    | FileChannelConfig
    | AppriseChannelConfig,
    Field(discriminator="type"),
]


def parse_timezone(value: str) -> tzinfo:
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r} (use an IANA name such as Asia/Tokyo)"
        ) from None


class RouteConfig(_Strict):
    topics: Annotated[list[str] | Literal["all"], BeforeValidator(_all_or_list)] = "all"
    min_score: float = Field(0.0, ge=0)
    channels: Annotated[list[str], BeforeValidator(_as_list)] = Field(min_length=1)
    mode: Literal["immediate", "digest"] = "immediate"
    cron: str | None = Field(
        None, description="digest schedule; for immediate routes the overflow digest's"
    )
    timezone: str = "UTC"
    max_per_hour: int | None = Field(None, ge=1)
    send_empty: bool = False

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        parse_timezone(value)
        return value

    @model_validator(mode="after")
    def _schedule(self) -> RouteConfig:
        if self.mode == "digest" and not self.cron:
            raise ValueError('a digest route needs cron, e.g. cron: "0 8 * * mon-fri"')
        if self.cron:
            try:
                CronTrigger.from_crontab(self.cron, timezone=parse_timezone(self.timezone))
            except ValueError as exc:
                raise ValueError(f"cron {self.cron!r}: {exc}") from None
        return self

    def wants(self, topic: str, score: float) -> bool:
        return (self.topics == "all" or topic in self.topics) and score >= self.min_score

    @property
    def digest_cron(self) -> str | None:
        """When digests go out: the route's cron, or hourly for an immediate route's overflow."""
        if self.mode == "digest" or self.cron:
            return self.cron
        return "0 * * * *" if self.max_per_hour else None

    def trigger(self) -> CronTrigger | None:
        cron = self.digest_cron
        return (
            CronTrigger.from_crontab(cron, timezone=parse_timezone(self.timezone)) if cron else None
        )


class DispatchSettings(_Strict):
    interval: float = Field(5.0, gt=0, le=3600, description="seconds between outbox sweeps")
    max_attempts: int = Field(8, ge=1, le=100)
    backoff: float = Field(30.0, gt=0, description="first retry delay, doubled each time")
    backoff_max: float = Field(3600.0, gt=0)
    batch: int = Field(500, ge=1, le=10_000)
    lease: float = Field(300.0, ge=10, description="a claimed alert is retried after this")
    sweep_after_poll: bool = Field(
        True, description="sweep as soon as a poll stores something, not only every interval"
    )


class AdminAlerts(_Strict):
    """Where messages about newsmon itself go (a source down, and up again)."""

    channels: Annotated[list[str], BeforeValidator(_as_list)] = []
    after_failures: int = Field(5, ge=1, le=1000)


class AlertsConfig(_Strict):
    channels: dict[str, ChannelConfig] = {}
    routes: dict[str, RouteConfig] = {}
    dispatch: DispatchSettings = DispatchSettings()
    admin: AdminAlerts = AdminAlerts()

    def secrets(self) -> list[str]:
        found: list[str] = []
        for channel in self.channels.values():
            if isinstance(channel, SlackChannelConfig):
                found.append(channel.webhook_url)
            elif isinstance(channel, EmailChannelConfig) and channel.password:
                found.append(channel.password)
            elif isinstance(channel, AppriseChannelConfig):
                found.extend(channel.urls)
        for i, channel in enumerate(self.admin.channels):
            if channel not in self.channels:
                found.append((("alerts", "admin", "channels", i), f"no channel named {channel!r}"))
        return found

    def problems(self, topics: set[str]) -> list[tuple[tuple[str | int, ...], str]]:
        """References that do not resolve, as (key path, reason) for line-pointing errors."""
        found: list[tuple[tuple[str | int, ...], str]] = []
        for name, route in self.routes.items():
            for i, channel in enumerate(route.channels):
                if channel not in self.channels:
                    known = ", ".join(sorted(self.channels)) or "none defined"
                    found.append(
                        (("alerts", "routes", name, "channels", i),
                         f"no channel named {channel!r} (channels: {known})")
                    )  # fmt: skip
            if route.topics != "all":
                for i, topic in enumerate(route.topics):
                    if topic not in topics:
                        found.append(
                            (("alerts", "routes", name, "topics", i),
                             f"no topic named {topic!r} (topics: {', '.join(sorted(topics))})")
                        )  # fmt: skip
        return found
