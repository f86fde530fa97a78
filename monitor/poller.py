"""Polling: turn configured (or ad-hoc) sources into crawls and report how each went.

:class:`Monitor` is the assembled product (config, archive, classifier, sink) that
the CLI, the daemon, the demo and the benchmarks all drive the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from monitor import __version__
from monitor.alerts.channels import Channel
from monitor.alerts.service import AlertService
from monitor.config import Config
from monitor.pipeline import ArchiveSink, ArticleHook, utcnow
from monitor.rules import Classifier, compile_rules
from spiders.crawl import crawl
from spiders.extract import Extractor
from spiders.items import PollOutcome, SourceSpec
from storage.db import Archive
from storage.models import Source
from storage.sources import SourceDefinition, sync_sources


@dataclass(frozen=True)
class PollReport:
    """One line of the summary table after a poll."""

    name: str
    status: str
    entries: int
    new: int
    known: int
    failed_articles: int
    seconds: float
    error: str | None
    warnings: tuple[str, ...] = ()


class Monitor:
    def __init__(
        self,
        config: Config,
        *,
        archive: Archive | None = None,
        classifier: Classifier | None = None,
        on_new_article: Sequence[ArticleHook] = (),
        alert_channels: dict[str, Channel] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config = config
        self.archive = archive or Archive(config.resolve_storage_url())
        self.classifier = classifier or compile_rules(config.topics)
        self.alerts = AlertService(self.archive, config, clock=clock, channels=alert_channels)
        hooks = [*on_new_article, *([self.alerts.planner] if self.alerts.enabled else [])]
        self.sink = ArchiveSink(self.archive, self.classifier, on_new_article=hooks, clock=clock)
        self.crawl_overrides: dict[str, Any] = {}
        self.extractor = Extractor(config.fetch.extract_processes)

    def sync_sources(self) -> dict[str, int]:
        """Mirror config.yaml's sources into the archive; name → id."""
        definitions = [
            SourceDefinition(s.name, s.url, s.kind, enabled=s.enabled) for s in self.config.sources
        ]
        with self.archive.session() as session:
            rows = sync_sources(session, definitions, utcnow())
            return {name: row.id for name, row in rows.items()}

    def adhoc_sources(self, urls: Iterable[str], kind: str = "auto") -> list[str]:
        """Register URLs given on the command line as sources (kind detected by default)."""
        definitions = [SourceDefinition(adhoc_name(url), url, kind, adhoc=True) for url in urls]
        with self.archive.session() as session:
            sync_sources(session, definitions, utcnow())
        return [d.name for d in definitions]

    def specs(self, names: Iterable[str] | None = None) -> list[SourceSpec]:
        wanted = set(names) if names is not None else None
        configured = {s.name: s for s in self.config.sources}
        query = select(Source).order_by(Source.id)
        if wanted is not None:
            query = query.where(Source.name.in_(wanted))
        with self.archive.reader() as session:
            rows = session.execute(query).scalars().all()
        specs = []
        for row in rows:
            if wanted is None and (not row.enabled or row.adhoc or row.name not in configured):
                continue
            config = configured.get(row.name)
            fetch_articles = self.config.fetch.fetch_articles
            if config is not None and config.fetch_articles is not None:
                fetch_articles = config.fetch_articles
            specs.append(
                SourceSpec(
                    id=row.id,
                    name=row.name,
                    url=row.url,
                    kind=row.kind,  # type: ignore[arg-type]
                    link_selector=config.link_selector if config else None,
                    etag=row.etag,
                    last_modified=row.last_modified,
                    fetch_articles=fetch_articles,
                )
            )
        return specs

    async def poll(
        self,
        names: Iterable[str] | None = None,
        *,
        on_source_done: Callable[[PollOutcome], None] | None = None,
    ) -> list[PollReport]:
        specs = self.specs(names)
        try:
            outcomes = await crawl(
                specs,
                self.sink,
                self.config.fetch,
                version=__version__,
                overrides=self.crawl_overrides,
                on_source_done=on_source_done,
                extractor=self.extractor,
            )
        finally:
            self.sink.flush()
        by_id = {spec.id: spec for spec in specs}
        return [report(by_id[o.source_id].name, o) for o in outcomes]

    def close(self) -> None:
        self.alerts.close()
        self.extractor.close()
        self.archive.close()


def report(name: str, outcome: PollOutcome) -> PollReport:
    seconds = 0.0
    if outcome.started_at and outcome.finished_at:
        seconds = (outcome.finished_at - outcome.started_at).total_seconds()
    return PollReport(
        name=name,
        status=outcome.status,
        entries=outcome.entries,
        new=outcome.new,
        known=outcome.known,
        failed_articles=outcome.failed_articles,
        seconds=seconds,
        error=outcome.error,
        warnings=tuple(outcome.warnings),
    )


def adhoc_name(url: str) -> str:
    parts = urlsplit(url)
    return f"adhoc:{parts.netloc}{parts.path}"[:200]
