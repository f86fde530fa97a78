"""``/metrics`` (Prometheus) and ``/healthz`` for a running daemon, on a port of its own.

Needs the ``metrics`` extra (prometheus-client). ``/healthz`` answers 200 while the
scheduler runs and 503 once it has stopped or a heartbeat is overdue, so a
supervisor or a load balancer can act on it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from monitor.errors import ConfigError

try:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app
except ModuleNotFoundError:  # pragma: no cover - depends on the install
    CollectorRegistry = None  # type: ignore[assignment,misc]


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


class Metrics:
    def __init__(self) -> None:
        if CollectorRegistry is None:
            raise ConfigError("metrics need prometheus-client: pip install 'newsmon[metrics]'")
        self.registry = CollectorRegistry()
        r = self.registry
        self.polls = Counter(
            "newsmon_polls", "Polls by source and outcome", ["source", "status"], registry=r
        )
        self.failures = Counter(
            "newsmon_poll_failures", "Failed polls by source", ["source"], registry=r
        )
        self.articles = Counter("newsmon_articles_stored", "New articles stored", registry=r)
        self.alerts = Counter(
            "newsmon_alerts", "Alert deliveries by outcome", ["outcome"], registry=r
        )
        self.duration = Histogram(
            "newsmon_poll_duration_seconds", "Time a poll of one source took", registry=r,
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
        )  # fmt: skip
        self.backlog = Gauge("newsmon_outbox_backlog", "Alerts pending in the outbox", registry=r)
        self.up = Gauge("newsmon_up", "1 while the daemon's scheduler runs", registry=r)
        self.last_beat = 0.0
        self.beat_limit = 60.0
        self._server: WSGIServer | None = None

    def observe_poll(self, reports: Iterable[Any]) -> None:
        for report in reports:
            self.polls.labels(report.name, report.status).inc()
            if report.status == "failed":
                self.failures.labels(report.name).inc()
            self.articles.inc(report.new)
            self.duration.observe(report.seconds)

    def observe_dispatch(self, report: Any) -> None:
        for outcome in ("sent", "failed", "dead"):
            count = getattr(report, outcome)
            if count:
                self.alerts.labels(outcome).inc(count)

    def heartbeat(self, backlog: int | None = None) -> None:
        self.last_beat = time.monotonic()
        self.up.set(1)
        if backlog is not None:
            self.backlog.set(backlog)

    def healthy(self) -> bool:
        return self.last_beat > 0 and time.monotonic() - self.last_beat < self.beat_limit

    def app(self) -> Callable[..., Iterable[bytes]]:
        metrics_app = make_wsgi_app(self.registry)

        def application(
            environ: dict[str, Any], start_response: Callable[..., Any]
        ) -> Iterable[bytes]:
            if environ.get("PATH_INFO") == "/healthz":
                ok = self.healthy()
                start_response("200 OK" if ok else "503 Service Unavailable",
                               [("Content-Type", "text/plain")])  # fmt: skip
                return [b"ok\n" if ok else b"not running\n"]
            return metrics_app(environ, start_response)

        return application

    def serve(self, port: int, host: str = "127.0.0.1") -> int:
        """Serve in a background thread; returns the port (useful with 0)."""
        self._server = make_server(host, port, self.app(), handler_class=_Quiet)
        threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True).start()
        return self._server.server_port

    def stop(self) -> None:
        self.up.set(0)
        self.last_beat = 0.0
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
