"""The long-lived daemon: APScheduler claims due sources and polls each on its own interval.

One asyncio loop (Twisted's asyncio reactor underneath) runs the scheduler and
every crawl. A claim job runs several times a second: it leases the sources
whose due time has come (see :mod:`storage.source_claims`) up to
``daemon.max_polls`` at once, polls them as one crawl, and hands each back due
again after its interval (or its backoff, when failing). The schedule lives in
the database, so any number of daemons on one PostgreSQL share the sources
without a coordinator, a source is never polled by two at once, and a dead
daemon's sources move to the others when its lease runs out. On SQLite one
daemon runs (a file lock) through the very same code.

SIGTERM/SIGINT stop new claims, let in-flight polls finish (each article is
already committed as it arrives), hand their sources back and exit 0.
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
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import make_url

from monitor.errors import StorageError
from monitor.health import SourceState, SourceWatch, backoff_delay
from monitor.poller import Monitor, PollReport
from spiders.items import PollOutcome
from storage.cluster import cluster_lock
from storage.marks import delete_mark, marks_named, set_mark
from storage.outbox import outbox_counts
from storage.source_claims import (
    ClaimedSource,
    bring_forward,
    claim_due_sources,
    drop_leases,
    release_sources,
    renew_leases,
)
from storage.sources import prune_poll_runs

if TYPE_CHECKING:
    from monitor.metrics import Metrics

log = logging.getLogger("newsmon.daemon")
SHUTDOWN_GRACE_S = 60.0
HEARTBEAT_S = 15.0
STATE_MARK = "daemon:state"
CLAIM_JOB = "sources:poll"
RETENTION_EVERY_S = 3600.0
STALE_WORKER = timedelta(days=1)  # a worker's heartbeat mark is forgotten this long after it stops
UNKNOWN_SOURCE_RETRY_S = 60.0


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
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._inflight: set[asyncio.Task[Any]] = set()
        self._polling: dict[int, ClaimedSource] = {}
        self._finished: list[tuple[int, datetime]] = []  # (source, due again): released next tick
        self.on_poll: list[Callable[[list[PollReport]], Awaitable[None] | None]] = []
        config = monitor.config
        self.intervals = {s.name: config.interval_of(s) for s in config.sources}
        self.lease = timedelta(seconds=config.daemon.lease)
        self.watch = SourceWatch(
            monitor.archive, config.alerts, backoff_max=config.schedule.backoff_max,
            clock=lambda: datetime.now(UTC),
        )  # fmt: skip

    @property
    def state_mark(self) -> str:
        """SQLite has one daemon; on PostgreSQL each worker reports under its own name."""
        return STATE_MARK if self.monitor.archive.is_sqlite else f"{STATE_MARK}:{self.worker}"

    async def run(self, stop: asyncio.Event | None = None) -> None:
        loop = asyncio.get_running_loop()
        stop = stop or asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
                loop.add_signal_handler(sig, stop.set)
        ids = self.monitor.sync_sources()
        now = datetime.now(UTC)
        with self.monitor.archive.session() as session:
            if self.monitor.archive.is_sqlite:
                drop_leases(session)  # one daemon: any lease left is a killed predecessor's
            bring_forward(
                session,
                [
                    (ids[name], now + timedelta(seconds=interval))
                    for name, interval in self.intervals.items()
                    if name in ids
                ],
            )
        scheduler = AsyncIOScheduler(event_loop=loop, timezone=UTC)
        self.scheduler = scheduler
        shortest = min(self.intervals.values(), default=60.0)
        scheduler.add_job(
            self._claim_and_poll, IntervalTrigger(seconds=max(0.05, min(1.0, shortest / 5))),
            id=CLAIM_JOB, name="poll due sources", max_instances=1, coalesce=True,
            next_run_time=now,
        )  # fmt: skip
        scheduler.add_job(
            self._renew_leases, IntervalTrigger(seconds=self.lease.total_seconds() / 3),
            id="sources:lease", name="renew leases", max_instances=1, coalesce=True,
        )  # fmt: skip
        scheduler.add_job(
            self._prune, IntervalTrigger(seconds=RETENTION_EVERY_S), id="archive:retention",
            name="prune poll history", max_instances=1, coalesce=True, next_run_time=now,
        )  # fmt: skip
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
        log.info("daemon %s started: %d sources configured", self.worker, len(self.intervals))
        try:
            await stop.wait()
        finally:
            log.info("stopping: no new polls; waiting for %d in flight", len(self._inflight))
            scheduler.pause()  # no new runs; shutdown() would cancel the ones running
            if self._inflight:
                _done, pending = await asyncio.wait(self._inflight, timeout=SHUTDOWN_GRACE_S)
                if pending:
                    log.warning(
                        "%d polls still running after %ss; exiting", len(pending), SHUTDOWN_GRACE_S
                    )
            await self.monitor.alerts.wait_idle(SHUTDOWN_GRACE_S)
            scheduler.shutdown(wait=False)
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
            self._hand_back_all()
            self._write_state(stopped=True)
            if self.metrics is not None:
                self.metrics.stop()
            log.info("daemon stopped after %d polls", self.polls_done)

    async def _claim_and_poll(self) -> None:
        """Hand back what was polled since the last tick, claim what is due: one transaction."""
        now = datetime.now(UTC)
        finished, self._finished = self._finished, []
        room = self.monitor.config.daemon.max_polls - len(self._polling)
        if not finished and room <= 0:
            return
        try:
            with self.monitor.archive.session() as session:
                release_sources(session, self.worker, finished)
                claimed = []
                if room > 0:
                    claimed = claim_due_sources(
                        session, owner=self.worker, now=now, lease_until=now + self.lease,
                        limit=room,
                    )  # fmt: skip
        except StorageError as exc:
            self._finished = finished + self._finished  # handed back at the next tick
            log.warning("could not claim due sources: %s", exc)
            return
        unknown = [c for c in claimed if c.name not in self.intervals]
        if unknown:  # in another worker's config.yaml, not in ours: leave it to them
            later = now + timedelta(seconds=UNKNOWN_SOURCE_RETRY_S)
            self._finished.extend((c.id, later) for c in unknown)
        batch = [c for c in claimed if c.name in self.intervals]
        if not batch:
            return
        for claim in batch:
            self._polling[claim.id] = claim
        task = asyncio.ensure_future(self._poll_batch(batch))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _poll_batch(self, batch: list[ClaimedSource]) -> None:
        reports: list[PollReport] = []

        mine = {claim.id: claim for claim in batch}

        def source_done(outcome: PollOutcome) -> None:
            claim = mine.pop(outcome.source_id, None)
            if claim is not None:  # due again from when this poll started, not the batch
                self._polling.pop(claim.id, None)
                self._finished.append((claim.id, self._due_after(claim, outcome)))

        try:
            reports = await self.monitor.poll(
                [claim.name for claim in batch], on_source_done=source_done
            )
        except Exception:
            log.exception("poll of %s failed", ", ".join(c.name for c in batch))
        finally:
            for claim in mine.values():  # sources the crawl never reported on
                self._polling.pop(claim.id, None)
                self._finished.append((claim.id, self._due_after(claim, None)))
        self.polls_done += len(reports)
        if self.metrics is not None:
            self.metrics.observe_poll(reports)
        befores = {claim.name: before_state(claim) for claim in batch}
        for item in reports:
            change = self.watch.after_poll(befores[item.name], item)
            if change:
                log.warning("source %s is %s; the admin channels are told", item.name, change)
            log_report(item)
        if any(item.new for item in reports) or any(
            change_owed([item], befores[item.name]) for item in reports
        ):
            self.monitor.alerts.nudge()
        for callback in self.on_poll:
            try:
                result = callback(reports)
                if asyncio.iscoroutine(result):
                    await result
            except Exception:
                log.exception("an on_poll callback failed")

    def _due_after(self, claim: ClaimedSource, outcome: PollOutcome | None) -> datetime:
        """The next poll: an interval after this one started, or the backoff when failing."""
        schedule = self.monitor.config.schedule
        interval = self.intervals.get(claim.name, UNKNOWN_SOURCE_RETRY_S)
        failed = outcome is None or outcome.status == "failed"
        failures = claim.failures + 1 if failed else 0
        wait = backoff_delay(failures, interval, schedule.backoff_max) if failures else interval
        wait *= random.uniform(1 - schedule.jitter, 1 + schedule.jitter)
        started = (outcome.started_at if outcome else None) or datetime.now(UTC)
        return started + timedelta(seconds=wait)

    def _hand_back_all(self) -> None:
        finished, self._finished = self._finished, []
        try:
            with self.monitor.archive.session() as session:
                release_sources(session, self.worker, finished)
                drop_leases(session, self.worker)
        except Exception:
            log.warning("could not drop this daemon's leases; they expire by themselves")

    async def _renew_leases(self) -> None:
        if not self._polling:
            return
        until = datetime.now(UTC) + self.lease
        with self.monitor.archive.session() as session:
            renew_leases(session, self.worker, list(self._polling), until)

    async def _prune(self) -> None:
        keep = timedelta(seconds=self.monitor.config.schedule.keep_poll_history)
        with cluster_lock(self.monitor.archive, "newsmon:retention") as mine:
            if not mine:
                return
            with self.monitor.archive.session() as session:
                pruned = prune_poll_runs(session, datetime.now(UTC) - keep)
                for mark in marks_named(session, f"{STATE_MARK}:"):  # workers killed long ago
                    if mark.at < datetime.now(UTC) - STALE_WORKER:
                        session.delete(mark)
        if pruned:
            log.info("pruned %d poll runs older than %s", pruned, keep)

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
            "pid": os.getpid(), "host": socket.gethostname(), "worker": self.worker,
            "polls_done": self.polls_done, "polling": len(self._polling),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "stopped": stopped, "jobs": jobs,
        }  # fmt: skip
        try:
            with self.monitor.archive.session() as session:
                if stopped and not self.monitor.archive.is_sqlite:
                    delete_mark(session, self.state_mark)  # a stopped worker leaves the cluster
                else:
                    set_mark(session, self.state_mark, datetime.now(UTC), state)
        except Exception:
            log.warning("could not record the daemon's state for `newsmon status`", exc_info=True)


def before_state(claim: ClaimedSource) -> SourceState:
    return SourceState(
        name=claim.name, enabled=True, failures=claim.failures, last_error=claim.last_error,
        last_error_at=claim.last_error_at, last_success_at=claim.last_success_at,
    )  # fmt: skip


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
