"""The long-lived daemon: APScheduler polls every source on its own interval.

One asyncio loop (Twisted's asyncio reactor underneath) runs the scheduler and
every crawl. Each source is one job with ``max_instances=1``, so a slow source
never overlaps itself and never delays the others. SIGTERM/SIGINT stop new
polls, let in-flight ones finish (each article is already committed as it
arrives), and return so the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import random
import signal
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import make_url

from monitor.errors import StorageError
from monitor.health import SourceState, SourceWatch
from monitor.poller import Monitor, PollReport
from storage.marks import set_mark
from storage.outbox import outbox_counts

if TYPE_CHECKING:
    from monitor.metrics import Metrics

log = logging.getLogger("newsmon.daemon")
SHUTDOWN_GRACE_S = 60.0
FIRST_POLL_SPREAD_S = 10.0
HEARTBEAT_S = 15.0
STATE_MARK = "daemon:state"


class DaemonLock:
    """One daemon per SQLite archive, enforced by an flock the kernel drops on any exit."""

    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        self.path: Path | None = None
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            self.path = Path(url.database).with_suffix(Path(url.database).suffix + ".lock")
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)  # a fresh clone has no data/ yet
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise StorageError(
                f"another newsmon daemon (pid {holder}) is already running on this archive "
                f"({self.path.with_suffix('')}); stop it first or use another --db"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


class Daemon:
    def __init__(
        self,
        monitor: Monitor,
        *,
        extra_jobs: list[Callable[[AsyncIOScheduler], None]] | None = None,
        metrics: Metrics | None = None,
    ):
        self.monitor = monitor
        self.metrics = metrics
        if metrics is not None:
            monitor.alerts.on_dispatch.append(metrics.observe_dispatch)
        self.extra_jobs = extra_jobs or []
        self.scheduler: AsyncIOScheduler | None = None
        self.polls_done = 0
        self.started_at: datetime | None = None
        self._inflight: set[asyncio.Task[Any]] = set()
        self.on_poll: list[Callable[[list[PollReport]], Awaitable[None] | None]] = []
        config = monitor.config
        self.watch = SourceWatch(
            monitor.archive, config.alerts, backoff_max=config.schedule.backoff_max,
            clock=lambda: datetime.now(UTC),
        )  # fmt: skip

    async def run(self, stop: asyncio.Event | None = None) -> None:
        loop = asyncio.get_running_loop()
        stop = stop or asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
                loop.add_signal_handler(sig, stop.set)
        self.monitor.sync_sources()
        scheduler = AsyncIOScheduler(event_loop=loop, timezone=UTC)
        self.scheduler = scheduler
        config = self.monitor.config
        now = datetime.now(UTC)
        specs = self.monitor.specs()
        for spec in specs:
            source = next(s for s in config.sources if s.name == spec.name)
            interval = config.interval_of(source)
            scheduler.add_job(
                self._poll_source,
                IntervalTrigger(seconds=interval, jitter=interval * config.schedule.jitter),
                args=[spec.name, interval],
                id=f"poll:{spec.name}",
                name=f"poll {spec.name}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, int(interval)),
                next_run_time=now
                + timedelta(seconds=random.uniform(0, min(FIRST_POLL_SPREAD_S, interval))),
            )
        if self.monitor.alerts.enabled:
            self.monitor.alerts.install(scheduler)
        for add_job in self.extra_jobs:
            add_job(scheduler)
        scheduler.add_job(
            self._heartbeat, IntervalTrigger(seconds=HEARTBEAT_S), id="daemon:heartbeat",
            name="heartbeat", max_instances=1, coalesce=True, next_run_time=now,
        )  # fmt: skip
        self.started_at = now
        scheduler.start()
        log.info("daemon started: %d sources scheduled", len(specs))
        try:
            await stop.wait()
        finally:
            log.info("stopping: no new polls; waiting for %d in flight", len(self._inflight))
            scheduler.shutdown(wait=False)
            if self._inflight:
                _done, pending = await asyncio.wait(self._inflight, timeout=SHUTDOWN_GRACE_S)
                if pending:
                    log.warning(
                        "%d polls still running after %ss; exiting", len(pending), SHUTDOWN_GRACE_S
                    )
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
            self._write_state(stopped=True)
            if self.metrics is not None:
                self.metrics.stop()
            log.info("daemon stopped after %d polls", self.polls_done)

    async def _heartbeat(self) -> None:
        self._write_state()
        if self.metrics is not None:
            with self.monitor.archive.reader() as session:
                backlog = outbox_counts(session)["pending"]
            self.metrics.heartbeat(backlog)

    def _write_state(self, *, stopped: bool = False) -> None:
        """What `newsmon status` shows from another process: alive, jobs, next runs."""
        scheduler = self.scheduler
        jobs = []
        if scheduler is not None and not stopped:
            for job in scheduler.get_jobs():
                when = job.next_run_time.astimezone(UTC).isoformat() if job.next_run_time else None
                jobs.append({"id": job.id, "name": job.name, "next_run": when})
        state = {
            "pid": os.getpid(), "host": socket.gethostname(), "polls_done": self.polls_done,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "stopped": stopped, "jobs": jobs,
        }  # fmt: skip
        try:
            with self.monitor.archive.session() as session:
                set_mark(session, STATE_MARK, datetime.now(UTC), state)
        except Exception:
            log.warning("could not record the daemon's state for `newsmon status`", exc_info=True)

    async def _poll_source(self, name: str, interval: float = 0.0) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            before = self.watch.state(name)
            if before is not None and not before.enabled:
                log.debug("skip %s: disabled", name)
                return
            if before is not None and not self.watch.due(before, interval):
                log.debug("skip %s: backing off after %d failures", name, before.failures)
                return
            reports = await self.monitor.poll([name])
            self.polls_done += 1
            if self.metrics is not None:
                self.metrics.observe_poll(reports)
            if before is not None and reports:
                change = self.watch.after_poll(before, reports[0])
                if change:
                    log.warning("source %s is %s; the admin channels are told", name, change)
            if any(item.new for item in reports) or change_owed(reports, before):
                self.monitor.alerts.nudge()
            for item in reports:
                log_report(item)
            for callback in self.on_poll:
                result = callback(reports)
                if asyncio.iscoroutine(result):
                    await result
        except Exception:
            log.exception("poll of %s failed", name)
        finally:
            if task is not None:
                self._inflight.discard(task)


def change_owed(reports: list[PollReport], before: SourceState | None) -> bool:
    """A failure or a recovery may have owed an admin message: sweep the outbox now."""
    return before is not None and any(
        (r.status == "failed") != (before.failures > 0) for r in reports
    )


def log_report(item: PollReport) -> None:
    if item.status == "failed":
        hint = (
            " — offline? `newsmon demo` runs on bundled sites"
            if "DNS lookup" in (item.error or "")
            else ""
        )
        log.warning("poll %s: failed: %s%s", item.name, item.error, hint)
    else:
        log.info(
            "poll %s: %s, %d new, %d known, %d entries (%.1fs)",
            item.name,
            item.status.replace("_", " "),
            item.new,
            item.known,
            item.entries,
            item.seconds,
        )
