"""Sending what the outbox owes: claim due rows, send, record; at least once, almost never twice.

Each alert is recorded as sent in its own transaction right after the channel
accepted it, so a crash can re-send at most the alerts that were on the wire
at that instant (an email keeps its Message-ID, so even that copy folds in the
reader's mail client). Losing an alert is worse than that, so an alert whose
send was interrupted is retried, not dropped.

Failures back off exponentially (Retry-After wins when the channel gives one)
up to ``max_attempts``, then the row is ``dead`` until ``newsmon alerts retry``.
When one channel is down its other alerts wait with it instead of each timing
out in turn; other channels are unaffected (each runs in its own thread).
"""

from __future__ import annotations

import logging
import os
import random
import socket
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.alerts.channels import Channel, open_channel, render_for
from monitor.alerts.config import AlertsConfig
from monitor.alerts.message import Message, digest_message, story_message
from monitor.errors import DeliveryError, NewsmonError
from monitor.logs import redact
from storage.db import Archive
from storage.outbox import (
    ClaimedAlert,
    claim_due,
    postpone,
    record_failure,
    record_part_sent,
    record_sent,
    save_payloads,
    story_articles,
)

log = logging.getLogger("newsmon.alerts")


@dataclass
class DispatchReport:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    postponed: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: DispatchReport) -> None:
        self.sent += other.sent
        self.failed += other.failed
        self.dead += other.dead
        self.postponed += other.postponed
        self.errors.extend(other.errors)

    @property
    def claimed(self) -> int:
        return self.sent + self.failed + self.dead + self.postponed


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Dispatcher:
    def __init__(
        self,
        archive: Archive,
        alerts: AlertsConfig,
        *,
        clock: Callable[[], datetime],
        channels: dict[str, Channel] | None = None,
        owner: str | None = None,
        base: Path | None = None,
    ) -> None:
        self.archive = archive
        self.alerts = alerts
        self.settings = alerts.dispatch
        self.clock = clock
        self.owner = owner or default_owner()
        self._given = channels
        self._base = base
        self._opened: dict[str, Channel] | None = None
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, len(channels if channels is not None else alerts.channels)),
            thread_name_prefix="alerts",
        )

    @property
    def channels(self) -> dict[str, Channel]:
        """Opened on first use: commands that never send (search, sources) need no Apprise."""
        if self._opened is None:
            self._opened = self._given if self._given is not None else {
                name: open_channel(name, config, base=self._base)
                for name, config in self.alerts.channels.items()
            }  # fmt: skip
        return self._opened

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def run_once(self) -> DispatchReport:
        """One sweep: everything due now, up to ``batch`` alerts."""
        _ = self.channels  # open them here, not racing in the per-channel threads
        now = self.clock()
        lease_until = now + timedelta(seconds=self.settings.lease)
        with self.archive.session() as session:
            claimed = claim_due(
                session, owner=self.owner, now=now, lease_until=lease_until,
                limit=self.settings.batch,
            )  # fmt: skip
            messages = self._messages(session, claimed)
        report = DispatchReport()
        by_channel: dict[str, list[tuple[ClaimedAlert, Message | None]]] = {}
        for alert in claimed:
            by_channel.setdefault(alert.channel, []).append((alert, messages.get(alert.id)))
        if len(by_channel) == 1:
            ((channel, work),) = by_channel.items()
            report.add(self._send_channel(channel, work))
        else:
            futures = [
                self._pool.submit(self._send_channel, ch, work) for ch, work in by_channel.items()
            ]
            for future in futures:
                report.add(future.result())
        return report

    def drain(self, max_rounds: int = 1000) -> DispatchReport:
        """Sweep until nothing is due now (tests, the demo, ``run --once``)."""
        total = DispatchReport()
        for _ in range(max_rounds):
            report = self.run_once()
            total.add(report)
            if report.claimed == 0 or report.sent == 0:
                break
        return total

    # -- building messages ------------------------------------------------------------------

    def _messages(self, session: Any, claimed: Sequence[ClaimedAlert]) -> dict[int, Message | None]:
        """The saved message of each alert, building (and saving) it on the first attempt."""
        found: dict[int, Message | None] = {}
        todo = [a for a in claimed if not (a.payload or {}).get("message")]
        story_ids: set[int] = set()
        for alert in todo:
            if alert.kind == "digest":
                story_ids.update(
                    pair[0] for pair in (alert.payload or {}).get("spec", {}).get("stories", [])
                )
            elif alert.story_id is not None:
                story_ids.add(alert.story_id)
        articles = story_articles(session, sorted(story_ids))
        payloads: dict[int, dict[str, Any]] = {}
        for alert in claimed:
            saved = (alert.payload or {}).get("message")
            if saved:
                found[alert.id] = Message.from_json(saved)
                continue
            message = self._build(alert, articles)
            found[alert.id] = message
            if message is not None:
                payloads[alert.id] = {**(alert.payload or {}), "message": message.to_json()}
        save_payloads(session, self.owner, payloads)
        return found

    def _build(self, alert: ClaimedAlert, articles: dict[int, list[Any]]) -> Message | None:
        route = self.alerts.routes.get(alert.route)
        wanted = route.wants if route is not None else None
        if alert.kind == "digest":
            spec = (alert.payload or {}).get("spec", {})
            return digest_message(
                alert.route, spec.get("stories", []), articles, wanted=wanted,
                since=spec.get("since"), until=spec.get("until"),
            )  # fmt: skip
        story = articles.get(alert.story_id or -1, [])
        return story_message(alert.route, story, lead_id=alert.article_id, wanted=wanted)

    # -- sending ------------------------------------------------------------------------------

    def _send_channel(
        self, name: str, work: list[tuple[ClaimedAlert, Message | None]]
    ) -> DispatchReport:
        report = DispatchReport()
        channel = self.channels.get(name)
        for index, (alert, message) in enumerate(work):
            if channel is None or message is None:
                why = (
                    f"channel {name!r} is no longer configured"
                    if channel is None
                    else "its story is no longer in the archive"
                )
                self._fail(alert, DeliveryError(why, permanent=message is None), report)
                continue
            try:
                self._send(channel, alert, message)
            except DeliveryError as exc:
                retry_at = self._fail(alert, exc, report)
                if not exc.permanent and retry_at is not None:
                    rest = [a.id for a, _m in work[index + 1 :]]
                    with self.archive.session() as session:
                        postpone(session, rest, self.owner, retry_at)
                    report.postponed += len(rest)
                    break
            except NewsmonError as exc:
                self._fail(alert, DeliveryError(str(exc)), report)
            except Exception as exc:  # a bug must cost an attempt, not wedge the alert
                log.exception("alert %d: unexpected error while sending", alert.id)
                self._fail(alert, DeliveryError(f"unexpected error: {exc!r}"), report)
            else:
                report.sent += 1
        return report

    def _send(self, channel: Channel, alert: ClaimedAlert, message: Message) -> None:
        parts = render_for(channel, message, alert.dedup_key)
        for number in range(alert.parts_sent, len(parts)):
            channel.post(parts[number])
            if number + 1 < len(parts):
                with self.archive.session() as session:
                    record_part_sent(session, alert.id, self.owner, number + 1)
        with self.archive.session() as session:
            record_sent(session, alert.id, self.owner, self.clock(), len(parts))

    def _fail(
        self, alert: ClaimedAlert, exc: DeliveryError, report: DispatchReport
    ) -> datetime | None:
        attempts = alert.attempts + 1
        error = redact(str(exc))
        retry_at = None
        if not exc.permanent and attempts < self.settings.max_attempts:
            retry_at = self.clock() + timedelta(seconds=self.delay(attempts, exc.retry_after))
        with self.archive.session() as session:
            record_failure(session, alert.id, self.owner, error=error, retry_at=retry_at)
        if retry_at is None:
            report.dead += 1
            log.error("alert %d (%s → %s) is dead after %d attempts: %s",
                      alert.id, alert.route, alert.channel, attempts, error)  # fmt: skip
        else:
            report.failed += 1
            log.warning("alert %d (%s → %s) failed (attempt %d), retry at %s: %s",
                        alert.id, alert.route, alert.channel, attempts,
                        retry_at.isoformat(timespec="seconds"), error)  # fmt: skip
        report.errors.append(error)
        return retry_at

    def delay(self, attempts: int, retry_after: float | None) -> float:
        """Seconds before the next try: the channel's Retry-After, else backoff with jitter."""
        if retry_after is not None:
            return max(0.0, retry_after)
        base = self.settings.backoff * 2 ** (attempts - 1)
        return min(self.settings.backoff_max, base) * random.uniform(0.9, 1.1)
