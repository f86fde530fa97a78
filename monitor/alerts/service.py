"""The alerts machinery assembled for a daemon or a one-off command."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.alerts.channels import Channel
from monitor.alerts.digests import DigestRunner, next_fire
from monitor.alerts.dispatcher import Dispatcher, DispatchReport
from monitor.alerts.message import Message, digest_message
from monitor.alerts.planner import AlertPlanner
from monitor.config import Config
from monitor.logs import register_secret
from storage.db import Archive
from storage.outbox import release_leases, story_articles, waiting_stories

log = logging.getLogger("newsmon.alerts")
SWEEP_JOB = "alerts:dispatch"


def utcnow() -> datetime:
    return datetime.now(UTC)


class AlertService:
    """Planner (pipeline hook), dispatcher and digests over one archive."""

    def __init__(
        self,
        archive: Archive,
        config: Config,
        *,
        clock: Callable[[], datetime] = utcnow,
        channels: dict[str, Channel] | None = None,
    ) -> None:
        alerts = config.alerts
        for secret in alerts.secrets():
            register_secret(secret)
        self.archive = archive
        self.alerts = alerts
        self.planner = AlertPlanner(alerts, clock)
        base = config.path.parent if config.path else Path.cwd()
        self.dispatcher = Dispatcher(archive, alerts, clock=clock, channels=channels, base=base)
        self.digests = DigestRunner(archive, alerts, clock)
        self._scheduler: AsyncIOScheduler | None = None
        self.on_dispatch: list[Callable[[DispatchReport], None]] = []
        self._running: set[asyncio.Task[None]] = set()
        self._sweeping: asyncio.Task[None] | None = None
        self._sweep_again = False

    @property
    def enabled(self) -> bool:
        """Anything to deliver: routes, or admin messages about failing sources."""
        return bool(self.alerts.routes or self.alerts.admin.channels)

    def start(self) -> None:
        """Before the first sweep: a single SQLite daemon owns every lease, so stale ones go."""
        if self.archive.is_sqlite:
            with self.archive.session() as session:
                released = release_leases(session)
            if released:
                log.info("took back %d alerts that a stopped daemon had claimed", released)
        self.digests.run_all_due()

    def deliver_now(self) -> DispatchReport:
        """Owe any due digests, then send everything due (for ``run --once`` and the demo)."""
        self.digests.run_all_due()
        return self.dispatcher.drain()

    def preview_digest(self, route: str) -> Message:
        """What ``route``'s next digest would say if it went out now (nothing is marked)."""
        with self.archive.reader() as session:
            pairs = waiting_stories(session, route)
            articles = story_articles(session, [story for story, _ in pairs])
        config = self.alerts.routes[route]
        return digest_message(route, pairs, articles, wanted=config.wants)

    def next_digest_at(self, route: str) -> datetime | None:
        trigger = self.digests.triggers.get(route)
        return next_fire(trigger, utcnow()) if trigger else None

    def install(self, scheduler: AsyncIOScheduler) -> None:
        """Add the dispatch sweep and one cron job per digest route to the daemon's scheduler."""
        self.start()
        self._scheduler = scheduler
        scheduler.add_job(
            self._sweep_job, IntervalTrigger(seconds=self.alerts.dispatch.interval),
            id=SWEEP_JOB, name="dispatch alerts", max_instances=1, coalesce=True,
            misfire_grace_time=None, next_run_time=utcnow(),
        )  # fmt: skip
        for route, trigger in self.digests.triggers.items():
            scheduler.add_job(
                self._digest_job, trigger, args=[route], id=f"alerts:digest:{route}",
                name=f"digest {route}", max_instances=1, coalesce=True, misfire_grace_time=None,
            )  # fmt: skip

    def nudge(self) -> None:
        """Sweep now, not at the next tick: a poll just stored articles that may owe alerts."""
        if not self.alerts.dispatch.sweep_after_poll:
            return
        if self._scheduler is not None and self._scheduler.get_job(SWEEP_JOB):
            self._scheduler.modify_job(SWEEP_JOB, next_run_time=utcnow())

    async def wait_idle(self, timeout: float) -> None:
        """Let a sweep or digest already running finish (the daemon is stopping)."""
        if self._running:
            await asyncio.wait(self._running, timeout=timeout)

    # The scheduler's jobs only start tasks of ours: APScheduler cancels the jobs it is
    # running when it shuts down, which would abandon a sweep mid-send; ours are awaited.
    async def _sweep_job(self) -> None:
        if self._sweeping is not None and not self._sweeping.done():
            self._sweep_again = True  # a nudge during a sweep: one more pass after it
            return
        self._sweeping = self._track(self._sweep_until_quiet())

    async def _digest_job(self, route: str) -> None:
        self._track(self._digest(route))

    def _track(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return task

    async def _sweep_until_quiet(self) -> None:
        while True:
            self._sweep_again = False
            await self._sweep()
            if not self._sweep_again:
                return

    async def _sweep(self) -> None:
        try:
            report = await asyncio.to_thread(self.dispatcher.run_once)
        except Exception:
            log.exception("alert dispatch failed; the outbox keeps every alert for the next sweep")
            return
        for callback in self.on_dispatch:
            callback(report)
        if report.claimed:
            log.info("alerts: %d sent, %d failed, %d dead, %d waiting on a down channel",
                     report.sent, report.failed, report.dead, report.postponed)  # fmt: skip

    async def _digest(self, route: str) -> None:
        try:
            await asyncio.to_thread(self.digests.run_due, route)
            await self._sweep()
        except Exception:
            log.exception("digest %s failed; it will be owed at the next run", route)

    def close(self) -> None:
        self.dispatcher.close()
