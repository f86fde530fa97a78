"""Digests: at each cron time, the stories a route collected since its last digest.

The last digest time of each route is a durable mark. ``run_due`` finds the
latest cron time after that mark and not after *now*; if there is one it takes
the waiting stories and owes one digest per channel in a single transaction,
keyed by route, channel and cron time. So a daemon that was down at 08:00 sends
the 08:00 digest when it comes back (once, however many times were missed),
and one that crashes halfway sends it once too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.cron import CronTrigger

from monitor.alerts.config import AlertsConfig
from storage.cluster import cluster_lock
from storage.db import Archive
from storage.marks import get_mark, set_mark
from storage.outbox import owe_alert, take_digest_items

log = logging.getLogger("newsmon.alerts")
_TICK = timedelta(microseconds=1)
MAX_CATCH_UP_STEPS = 100_000


def next_fire(trigger: CronTrigger, after: datetime) -> datetime | None:
    return trigger.get_next_fire_time(None, after + _TICK)


def latest_fire(trigger: CronTrigger, after: datetime, now: datetime) -> datetime | None:
    """The last cron time in (after, now], or None when the next one is still ahead."""
    found = None
    moment = next_fire(trigger, after)
    steps = 0
    while moment is not None and moment <= now and steps < MAX_CATCH_UP_STEPS:
        found, moment = moment, next_fire(trigger, moment)
        steps += 1
    return found


def digest_key(route: str, channel: str, fire: datetime) -> str:
    return f"{route}|{channel}|digest:{fire.isoformat()}"


class DigestRunner:
    def __init__(
        self, archive: Archive, alerts: AlertsConfig, clock: Callable[[], datetime]
    ) -> None:
        self.archive = archive
        self.alerts = alerts
        self.clock = clock
        self.triggers = {
            name: trigger for name, route in alerts.routes.items() if (trigger := route.trigger())
        }

    def run_due(self, route: str, now: datetime | None = None) -> int | None:
        """Owe ``route``'s digest if a cron time has passed; the number of stories, or None.

        With several daemons on one PostgreSQL, one of them runs it (an advisory
        lock); the others return None. The dedup key would stop a second send
        anyway; the lock stops two workers from splitting the stories between them.
        """
        with cluster_lock(self.archive, f"newsmon:digest:{route}") as mine:
            return self._run_due(route, now) if mine else None

    def _run_due(self, route: str, now: datetime | None) -> int | None:
        now = now or self.clock()
        trigger = self.triggers[route]
        config = self.alerts.routes[route]
        mark_name = f"digest:{route}"
        with self.archive.session() as session:
            mark = get_mark(session, mark_name)
            if mark is None:  # first start: digests cover what arrives from now on
                set_mark(session, mark_name, now)
                return None
            fire = latest_fire(trigger, mark.at, now)
            if fire is None:
                return None
            fire = fire.astimezone(UTC)
            stories = take_digest_items(session, route, f"{route}@{fire.isoformat()}")
            if stories or config.send_empty:
                spec = {
                    "stories": [list(pair) for pair in stories],
                    "since": mark.at.isoformat(), "until": fire.isoformat(),
                }  # fmt: skip
                for channel in config.channels:
                    owe_alert(
                        session, dedup_key=digest_key(route, channel, fire), route=route,
                        channel=channel, kind="digest", now=now, payload={"spec": spec},
                    )  # fmt: skip
            set_mark(session, mark_name, fire)
        log.info("digest %s at %s: %d stories", route, fire.isoformat(), len(stories))
        return len(stories)

    def run_all_due(self, now: datetime | None = None) -> dict[str, int | None]:
        return {route: self.run_due(route, now) for route in self.triggers}
