"""Worker processes for CPU-bound calls, driven straight from the event loop.

``ProcessPoolExecutor`` moves each call through two helper threads and a
thread-safe wake-up of the loop; with the daemon's thread busy, those threads
wait for the GIL, and the daemon spent 0.8-1.3 ms of its own CPU per extracted
page on the hand-over alone (measured: 2,000 benchmark pages, 2 workers). Here
each worker has one pipe; the loop writes a pickled call to an idle worker and
reads the answer when the pipe becomes readable (``loop.add_reader``): 0.2 ms
per page, no threads. A write never blocks the loop: it goes to a worker that
is reading, or fits what is left of the pipe's buffer (see ProcessPool).

A worker that dies (lxml can crash on hostile markup) fails only the call it
was running, with :class:`WorkerDied`, and is replaced. Workers leave when
their pipe closes, which is also what happens when the daemon is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import pickle
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from itertools import islice
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

log = logging.getLogger(__name__)
_PICKLE = pickle.HIGHEST_PROTOCOL


class WorkerDied(RuntimeError):
    """The worker process running a call exited before answering."""


def _serve(connection: Connection, parent: int) -> None:
    """A worker's life: yield the CPU to the daemon, answer calls until the pipe closes.

    The daemon's own process runs the event loop: downloads, timeouts, database
    writes, alert delivery. When extraction saturates the machine it must still
    be served first, or downloads stall and the workers end up waiting for pages
    (bench/poll.py --n 200 on 2 cores, median of 5 runs: 204 articles/s with the
    workers at the daemon's priority, 225 at nice 10).
    """
    with contextlib.suppress(OSError):
        os.nice(10)
    # Ctrl-C reaches the whole process group; the daemon decides when its workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(
        target=_exit_with, args=(parent,), name="exit-with-parent", daemon=True
    ).start()
    while True:
        try:
            call = connection.recv_bytes()
        except (EOFError, OSError):
            return
        try:
            fn, args, kwargs = pickle.loads(call)
            answer = pickle.dumps((True, fn(*args, **kwargs)), _PICKLE)
        except Exception as exc:  # the caller gets it, as if the call had run at home
            answer = _pickled_error(exc)
        connection.send_bytes(answer)


def _pickled_error(exc: Exception) -> bytes:
    try:
        return pickle.dumps((False, exc), _PICKLE)
    except Exception:  # an exception that does not pickle still gets its message home
        return pickle.dumps((False, RuntimeError(f"{type(exc).__name__}: {exc}")), _PICKLE)


def _exit_with(parent: int) -> None:
    """A worker busy on a long call notices a killed daemon without reading its pipe."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


class _Worker:
    def __init__(self, context: Any) -> None:
        self.connection, child = context.Pipe()
        self.process: BaseProcess = context.Process(
            target=_serve, args=(child, os.getpid()), name="newsmon-worker", daemon=True
        )
        self.process.start()
        child.close()
        self.room = _queue_room(self.connection)
        # Sent and not yet answered, oldest first: the first is running, the rest wait.
        self.calls: deque[tuple[bytes, asyncio.Future[Any]]] = deque()

    def queued_bytes(self) -> int:
        return sum(len(payload) for payload, _future in islice(self.calls, 1, None))

    def stop(self) -> None:
        self.connection.close()
        self.process.join(timeout=0.5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=2)


def _queue_room(connection: Connection, wanted: int = 1 << 20) -> int:
    """Bytes of calls that can wait in the pipe to a busy worker without a write blocking.

    The send buffer is raised towards 1 MiB where the system allows it
    (net.core.wmem_max, often 208 KiB). Linux then reports twice the size it
    granted, the extra being its own bookkeeping; half of what it granted is
    the room, a margin for the bookkeeping of many small writes.
    """
    duplicate = os.dup(connection.fileno())
    try:
        sock = socket.socket(fileno=duplicate)
    except OSError:  # not a socket (Windows pipes): one small call may wait
        os.close(duplicate)
        return 16 * 1024
    with sock:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, wanted)
        return sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) // 4


class ProcessPool:
    """``processes`` spawned workers answering picklable calls, started on first use.

    An idle worker gets the next call; a busy one also holds up to ``QUEUED_CALLS``
    more, as many as fit its pipe's buffer (so the write never blocks the loop),
    to start on as soon as it answers. The loop writes articles in batches, and
    while it does, workers live on what they hold: with one call queued, they
    sat idle through each batch (bench/poll.py --n 200 on 2 cores, first poll
    against the baseline, medians of 3 rounds: 0.80x and 0.83x with one queued
    call and batches of 64; 1.12x, 1.04x and 1.06x with six and batches of 16).
    """

    QUEUED_CALLS = 6

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._context = multiprocessing.get_context("spawn")
        self._all: list[_Worker] = []
        self._waiting: deque[tuple[bytes, asyncio.Future[Any]]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._adopt(loop)
        if not self._all:
            for _ in range(self.processes):
                self._all.append(_Worker(self._context))
        future: asyncio.Future[Any] = loop.create_future()
        self._waiting.append((pickle.dumps((fn, args, kwargs), _PICKLE), future))
        self._dispatch()
        return await future

    def _adopt(self, loop: asyncio.AbstractEventLoop) -> None:
        """Readers belong to one loop; a pool moved to a new loop drops what the old one ran."""
        old = self._loop
        busy = [worker for worker in self._all if worker.calls]
        if busy and old is not None and not old.is_closed() and old.is_running():
            raise RuntimeError("the extraction pool is busy on another event loop")
        for worker in busy:  # their answers were for a loop that is gone
            self._renew(worker)
        self._loop = loop

    def _dispatch(self) -> None:
        while self._waiting and self._all:
            payload, future = self._waiting[0]
            if future.done():  # cancelled while it waited
                self._waiting.popleft()
                continue
            worker = min(self._all, key=lambda w: len(w.calls))
            if worker.calls and (
                len(worker.calls) > self.QUEUED_CALLS
                or worker.queued_bytes() + len(payload) > worker.room
            ):
                return
            self._waiting.popleft()
            try:
                worker.connection.send_bytes(payload)
            except OSError:  # died while idle: replace it, and give the call to another
                self._waiting.appendleft((payload, future))
                self._died(worker)
                continue
            worker.calls.append((payload, future))
            if len(worker.calls) == 1:
                assert self._loop is not None
                self._loop.add_reader(worker.connection.fileno(), self._answered, worker)

    def _answered(self, worker: _Worker) -> None:
        try:
            answer = worker.connection.recv_bytes()
        except (EOFError, OSError):
            self._died(worker)
            return
        _payload, future = worker.calls.popleft()
        if not worker.calls:
            assert self._loop is not None
            self._loop.remove_reader(worker.connection.fileno())
        try:
            ok, value = pickle.loads(answer)
        except Exception as exc:  # a result that pickles but will not rebuild here
            ok, value = False, RuntimeError(f"unreadable answer from a worker: {exc!r}")
        if not future.done():
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
        self._dispatch()

    def _died(self, worker: _Worker) -> None:
        """The oldest call is the one it died on; a call waiting behind it goes to another."""
        worker.process.join(timeout=0.5)
        code = worker.process.exitcode
        log.warning("an extraction worker died (exit code %s); starting another", code)
        if worker.calls:
            assert self._loop is not None
            self._loop.remove_reader(worker.connection.fileno())
            (_payload, future), *queued = worker.calls
            if not future.done():
                future.set_exception(WorkerDied(f"the worker exited (code {code})"))
            self._waiting.extendleft(reversed(queued))
        self._renew(worker)
        self._dispatch()

    def _renew(self, worker: _Worker) -> None:
        self._all.remove(worker)
        worker.stop()
        self._all.append(_Worker(self._context))

    def close(self) -> None:
        """Stop every worker; calls still waiting or running fail with :class:`WorkerDied`."""
        for worker in self._all:
            if worker.calls and self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(worker.connection.fileno())
            for _payload, future in worker.calls:
                if not future.done():
                    future.set_exception(WorkerDied("the pool was closed"))
            worker.stop()
        for _payload, future in self._waiting:
            if not future.done():
                future.set_exception(WorkerDied("the pool was closed"))
        self._all, self._waiting = [], deque()
