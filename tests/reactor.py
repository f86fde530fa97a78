"""One asyncio reactor for the whole test session, in a background thread.

A Twisted reactor cannot be restarted, and the product runs exactly one per
process. Tests need many crawls in one process, so they share one reactor that
runs for the session; :func:`run` submits a coroutine to it and waits.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")
_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


def _start() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is not None:
            return _loop
        assert "twisted.internet.reactor" not in sys.modules, "a reactor was installed already"
        loop = asyncio.new_event_loop()
        from scrapy.utils.reactor import install_reactor

        asyncio.set_event_loop(loop)
        install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
        from twisted.internet import reactor

        ready = threading.Event()
        reactor.callWhenRunning(ready.set)
        thread = threading.Thread(
            target=lambda: reactor.run(installSignalHandlers=False), name="reactor", daemon=True
        )
        thread.start()
        ready.wait(10)
        _loop = loop
        return loop


def run(main: Callable[[], Awaitable[T]], timeout: float = 120) -> T:
    loop = _start()

    async def wrapper() -> Any:
        return await main()

    return asyncio.run_coroutine_threadsafe(wrapper(), loop).result(timeout)


def submit(main: Callable[[], Awaitable[T]]) -> Any:
    """Start ``main`` on the reactor without waiting; returns a concurrent Future."""
    loop = _start()

    async def wrapper() -> Any:
        return await main()

    return asyncio.run_coroutine_threadsafe(wrapper(), loop)
