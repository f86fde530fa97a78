"""The one exception tree of newsmon.

Every error a user can cause or meet derives from :class:`NewsmonError`; the CLI
prints its message as one line and exits non-zero instead of showing a traceback::

    NewsmonError
    ├── ConfigError        the config file or a rule is wrong (names file, line, key)
    │   └── RuleSyntaxError   a topic query does not parse (names topic and column)
    ├── FetchError         a source could not be fetched or is not what it claims
    │   └── ParseError        the body arrived but is not a usable feed/sitemap/page
    ├── StorageError       the database refused: locked, read-only, full, too new
    └── DeliveryError      an alert channel did not take a message

Errors of the libraries underneath are translated where they cross into newsmon
(``raise ... from exc``), so callers never need to know scrapy's or SQLAlchemy's.
"""

from __future__ import annotations


class NewsmonError(Exception):
    """Base of every error newsmon reports to a user."""

    exit_code = 1


class UsageError(NewsmonError):
    """A command was given arguments it cannot work with."""

    exit_code = 2


class ConfigError(NewsmonError, ValueError):
    """The configuration cannot be used as written."""

    exit_code = 2


class RuleSyntaxError(ConfigError):
    """A topic query is not valid rule-language syntax.

    ``column`` is 1-based, so a caret can be drawn under the offending character.
    """

    def __init__(self, message: str, *, topic: str, query: str, column: int) -> None:
        self.topic = topic
        self.query = query
        self.column = column
        self.reason = message
        caret = " " * (column - 1) + "^"
        super().__init__(f"topic {topic!r}, column {column}: {message}\n  {query}\n  {caret}")


class FetchError(NewsmonError):
    """A source could not be fetched."""


class ParseError(FetchError):
    """A response arrived but does not hold what the source kind needs."""


class StorageError(NewsmonError):
    """The database could not do what was asked."""


class DeliveryError(NewsmonError):
    """An alert channel did not accept a message.

    ``retry_after`` (seconds) is set when the channel said when to come back;
    ``permanent`` marks failures that retrying cannot fix (bad address, 4xx).
    """

    def __init__(
        self, message: str, *, retry_after: float | None = None, permanent: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent
