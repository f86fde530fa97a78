"""The ASGI application: one archive, three faces (pages, API, feeds)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from monitor import __version__
from monitor.config import Config
from monitor.errors import NewsmonError
from monitor.web.guard import Guard
from storage.db import Archive

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))


def create_app(config: Config, *, archive: Archive | None = None) -> FastAPI:
    from monitor.web import api, feeds, pages

    app = FastAPI(
        title="newsmon",
        version=__version__,
        description="Search the newsmon archive: articles, topics, sources and counts over time.",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.archive = archive or Archive(config.resolve_storage_url())
    app.state.config = config
    app.add_middleware(Guard, secrets=[s for s in (config.web.token, config.web.password) if s])
    app.include_router(api.router)
    app.include_router(feeds.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.exception_handler(NewsmonError)
    async def _user_error(request: Request, exc: NewsmonError) -> Response:
        """A bad query or date is the user's to fix: 400 with the reason, never a trace."""
        message = str(exc)
        if request.url.path.startswith(("/api/", "/feeds/")):
            return JSONResponse({"error": message}, status_code=400)
        return templates.TemplateResponse(
            request, "error.html", {"message": message, "config": config}, status_code=400
        )

    return app


def reader(request: Request) -> Iterator[Session]:
    """A read-only session for one request (it never takes SQLite's write lock)."""
    archive: Archive = request.app.state.archive
    with archive.reader() as session:
        yield session
