"""The configuration file: its schema, its defaults, and errors that point at a line.

``load_config`` is the only way code gets a :class:`Config`; it validates the
whole file with pydantic and turns every validation error into one
``file:line: key.path: reason`` line, so a broken config is fixed in seconds.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from monitor.alerts.config import AlertsConfig
from monitor.errors import ConfigError
from monitor.rules import TopicRule
from monitor.yamlsource import LocatedYaml, format_key_path, load_located_yaml

DEFAULT_CONFIG = Path("config.yaml")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


def parse_duration(value: Any) -> float:
    """Seconds from ``90``, ``"90s"``, ``"15m"``, ``"1.5h"``, ``"7d"``."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 15m or 1h")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a duration such as 30s, 15m or 1h")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


def check_http_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("not an http(s) URL")
    return value.strip()


HttpUrlStr = Annotated[str, BeforeValidator(lambda v: check_http_url(str(v)))]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class StorageSettings(Strict):
    url: str = "sqlite:///data/newsmon.db"


class FetchSettings(Strict):
    """Politeness and limits. Scrapy's own defaults suit a one-off scrape, not a daemon."""

    contact: str = "https://github.com/newsmon/newsmon"
    user_agent: str | None = None
    obey_robots: bool = True
    download_delay: Duration = 1.0
    autothrottle: bool = True
    concurrent_requests: int = Field(32, ge=1, le=512)
    concurrent_per_domain: int = Field(2, ge=1, le=64)
    timeout: Duration = 30.0
    max_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    retries: int = Field(2, ge=0, le=10)
    retry_backoff: Duration = 2.0
    max_redirects: int = Field(5, ge=0, le=20)
    max_entries: int = Field(300, ge=1, description="newest entries taken from one feed poll")
    fetch_articles: bool = True
    extract_processes: int | None = Field(
        None, ge=0, le=32, description="worker processes for text extraction; 0: in a thread"
    )

    def resolved_user_agent(self, version: str) -> str:
        return self.user_agent or f"newsmon/{version} (+{self.contact})"


class ScheduleSettings(Strict):
    default_interval: Duration = 900.0
    jitter: float = Field(0.1, ge=0, le=0.5, description="fraction of the interval")
    min_interval: Duration = 60.0
    backoff_max: Duration = Field(6 * 3600.0, description="longest wait after repeated failures")
    keep_poll_history: Duration = Field(
        30 * 86400.0, description="poll runs older than this are deleted (articles never are)"
    )


class DaemonSettings(Strict):
    metrics_port: int | None = Field(None, ge=0, le=65535, description="/metrics and /healthz")
    metrics_host: str = "127.0.0.1"
    max_polls: int = Field(64, ge=1, le=4096, description="sources one daemon polls at once")
    lease: Duration = Field(
        300.0,
        ge=2,
        description="how long a claimed source stays this daemon's; renewed while it is polled, "
        "so a dead daemon's sources go to the others after this long",
    )


class WebSettings(Strict):
    """``newsmon serve``. Off loopback it needs a token or a password (from the environment)."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    token: str | None = Field(None, description="Bearer token, ?token= or basic-auth password")
    password: str | None = Field(None, description="basic-auth password (any user name)")
    page_size: int = Field(20, ge=5, le=200)


SourceKind = Literal["feed", "sitemap", "listing", "auto"]


class SourceConfig(Strict):
    name: str = Field(min_length=1, max_length=200)
    url: HttpUrlStr
    kind: SourceKind = "feed"
    interval: Duration | None = None
    link_selector: str | None = None
    enabled: bool = True
    fetch_articles: bool | None = None

    @model_validator(mode="after")
    def _listing_needs_selector(self) -> SourceConfig:
        if self.kind == "listing" and not self.link_selector:
            raise ValueError("a listing source needs link_selector (CSS, or XPath starting with /)")
        return self


class Config(Strict):
    storage: StorageSettings = StorageSettings()
    fetch: FetchSettings = FetchSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    sources: list[SourceConfig] = []
    topics: dict[str, TopicRule] = {}
    alerts: AlertsConfig = AlertsConfig()
    web: WebSettings = WebSettings()
    daemon: DaemonSettings = DaemonSettings()

    path: Path | None = Field(None, exclude=True)

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, sources: list[SourceConfig]) -> list[SourceConfig]:
        seen: set[str] = set()
        for source in sources:
            if source.name in seen:
                raise ValueError(f"two sources are named {source.name!r}; names must be unique")
            seen.add(source.name)
        return sources

    @field_validator("topics")
    @classmethod
    def _topic_names(cls, topics: dict[str, TopicRule]) -> dict[str, TopicRule]:
        for name in topics:
            if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", str(name)):
                raise ValueError(f"topic name {name!r}: use letters, digits, _ . - only")
        return topics

    def interval_of(self, source: SourceConfig) -> float:
        interval = source.interval or self.schedule.default_interval
        return max(interval, self.schedule.min_interval)

    def with_storage_url(self, url: str | None) -> Config:
        if not url:
            return self
        return self.model_copy(update={"storage": StorageSettings(url=url)})

    def resolve_storage_url(self) -> str:
        """Relative SQLite paths are taken from the config file's folder, not the cwd."""
        url = self.storage.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and self.path:
            rel = url[len(prefix) :]
            if rel and rel != ":memory:":
                return prefix + str((self.path.parent / rel).resolve())
        return url


def load_config(path: Path | str | None = None, *, environ: dict[str, str] | None = None) -> Config:
    """Read and validate a config file; every problem is a :class:`ConfigError`."""
    config_path = Path(path) if path else DEFAULT_CONFIG
    located = load_located_yaml(config_path, environ=environ)
    if not isinstance(located.data, dict):
        raise ConfigError(f"{config_path}:1: the config must be a mapping of sections")
    return config_from_data(located)


def config_from_data(located: LocatedYaml) -> Config:
    try:
        config = Config.model_validate(located.data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, located)) from None
    problems = config.alerts.problems(set(config.topics))
    if problems:
        raise ConfigError(
            "\n".join(
                f"{located.where(path)}: {format_key_path(path)}: {why}" for path, why in problems
            )
        )
    return config.model_copy(update={"path": located.path.resolve()})


def describe_validation_error(exc: ValidationError, located: LocatedYaml) -> str:
    lines = []
    for error in exc.errors():
        key_path = tuple(part for part in error["loc"] if not _is_union_tag(part))
        lines.append(f"{located.where(key_path)}: {format_key_path(key_path)}: {_reason(error)}")
    return "\n".join(lines)


def _is_union_tag(part: Any) -> bool:
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))


def _reason(error: Any) -> str:
    kind, message = error["type"], error["msg"]
    if kind == "extra_forbidden":
        return "unknown key (check its spelling and indentation)"
    if kind == "missing":
        return "required key is missing"
    return message.removeprefix("Value error, ")
