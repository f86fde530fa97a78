"""``newsmon serve``: the web UI, JSON API and Atom feeds over the archive."""

from __future__ import annotations

import ipaddress
from typing import Annotated

import typer

from monitor.cli import ConfigOpt, DbOpt, app, err, open_config
from monitor.errors import ConfigError


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command("serve")
def serve_command(
    host: Annotated[
        str | None, typer.Option(help="Bind address [default: web.host, 127.0.0.1]")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port [default: web.port, 8080]")] = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Serve the archive: search UI, article pages, sources, trends, /api and /feeds.

    Off loopback it refuses to start without web.token or web.password (set them from the
    environment: token: ${NEWSMON_WEB_TOKEN}).  Example: newsmon serve --port 8080
    """
    try:
        import uvicorn

        from monitor.web import create_app
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"the web UI needs the 'web' extra ({exc.name} is missing): pip install 'newsmon[web]'"
        ) from None
    cfg = open_config(config, db)
    bind = host or cfg.web.host
    if not is_loopback(bind) and not (cfg.web.token or cfg.web.password):
        raise ConfigError(
            f"refusing to serve the archive on {bind} without a password: set web.token or "
            "web.password in the config (from the environment, e.g. token: ${NEWSMON_WEB_TOKEN}), "
            "or bind to 127.0.0.1"
        )
    from monitor.logs import register_secret

    for secret in (cfg.web.token, cfg.web.password):
        register_secret(secret)
    application = create_app(cfg)
    err.print(
        f"newsmon: serving {cfg.resolve_storage_url()} at http://{bind}:{port or cfg.web.port}/"
    )
    uvicorn.run(application, host=bind, port=port or cfg.web.port, log_level="warning")
