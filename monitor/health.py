"""Failing sources: back off instead of hammering them; tell an admin once, and on recovery.

A source that fails is next polled after its interval, then 2×, 4×, … that, up to
``schedule.backoff_max``: the daemon stores that due time in the source's row
(:func:`backoff_delay`), so it survives restarts and holds for every worker. After
``alerts.admin.after_failures`` failures in a row the admin channels get one
message (the outbox key names the outage), and one more when the source works again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from monitor.alerts.config import AlertsConfig
from monitor.alerts.message import Message
from monitor.poller import PollReport
from storage.db import Archive
from storage.models import Source
from storage.outbox import owe_alert


@dataclass(frozen=True)
class SourceState:
    name: str
    enabled: bool
    failures: int
    last_error: str | None
    last_error_at: datetime | None
    last_success_at: datetime | None


def backoff_delay(failures: int, interval: float, cap: float) -> float:
    """Seconds to wait after the last failure before polling again."""
    if failures <= 0:
        return 0.0
    return min(max(cap, interval), interval * 2 ** (failures - 1))


class SourceWatch:
    def __init__(
        self,
        archive: Archive,
        alerts: AlertsConfig,
        *,
        backoff_max: float,
        clock: Callable[[], datetime],
    ) -> None:
        self.archive = archive
        self.alerts = alerts
        self.backoff_max = backoff_max
        self.clock = clock

    def state(self, name: str) -> SourceState | None:
        with self.archive.reader() as session:
            row = session.execute(select(Source).where(Source.name == name)).scalar()
            if row is None:
                return None
            return SourceState(
                name=row.name, enabled=row.enabled, failures=row.consecutive_failures or 0,
                last_error=row.last_error, last_error_at=row.last_error_at,
                last_success_at=row.last_success_at,
            )  # fmt: skip

    def after_poll(self, before: SourceState, report: PollReport) -> str | None:
        """Owe the admin message a poll calls for: "down", "up" or None."""
        admin = self.alerts.admin
        if not admin.channels:
            return None
        after = self.state(before.name)
        if after is None:
            return None
        threshold = admin.after_failures
        if report.status == "failed" and before.failures < threshold <= after.failures:
            since = (
                before.last_success_at.isoformat(timespec="minutes")
                if before.last_success_at
                else "its first poll"
            )
            note = (f"source {after.name} has failed {after.failures} times in a row "
                    f"(last success {since}): {after.last_error}")  # fmt: skip
            self._owe("down", after.name, note, outage=str(before.last_success_at or "never"))
            return "down"
        if report.status != "failed" and before.failures >= threshold:
            note = f"source {after.name} works again after {before.failures} failed polls"
            self._owe("up", after.name, note, outage=str(before.last_success_at or "never"))
            return "up"
        return None

    def _owe(self, kind: str, source: str, note: str, *, outage: str) -> None:
        message = Message("admin", "admin", note=note)
        now = self.clock()
        with self.archive.session() as session:
            for channel in self.alerts.admin.channels:
                owe_alert(
                    session, dedup_key=f"admin|{channel}|{kind}|{source}|{outage}", route="admin",
                    channel=channel, kind="admin", now=now, payload={"message": message.to_json()},
                )  # fmt: skip
