"""The worker processes behind extraction and feed parsing: answers, errors, deaths."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import pytest

from spiders.extract import Extractor
from spiders.workers import ProcessPool, WorkerDied


def echo(value: int) -> tuple[int, int]:
    return value, os.getpid()


def fail(message: str) -> None:
    raise ValueError(message)


class Unpicklable(Exception):
    def __init__(self) -> None:
        super().__init__("held a lock")
        self.lock = threading.Lock()


def fail_unpicklably() -> None:
    raise Unpicklable()


def die() -> None:
    os._exit(3)


def _refuse_to_rebuild() -> None:
    raise ValueError("cannot rebuild here")


class Bomb:
    """Pickles fine in the worker; unpickling it in the daemon raises."""

    def __reduce__(self):
        return (_refuse_to_rebuild, ())


def make_bomb() -> Bomb:
    return Bomb()


@pytest.fixture
def pool():
    made = ProcessPool(2)
    yield made
    made.close()


def test_many_calls_on_two_workers_each_get_their_own_answer(pool):
    async def main():
        return await asyncio.gather(*(pool.run(echo, i) for i in range(40)))

    answers = asyncio.run(main())

    assert [value for value, _pid in answers] == list(range(40))
    workers = {pid for _value, pid in answers}
    assert len(workers) == 2 and os.getpid() not in workers


def test_errors_come_home_with_their_type_or_at_least_their_message(pool):
    async def main():
        await asyncio.gather(*(pool.run(echo, i) for i in range(4)))
        started = {worker.process.pid for worker in pool._all}
        with pytest.raises(ValueError, match="bad page"):
            await pool.run(fail, "bad page")
        with pytest.raises(RuntimeError, match="Unpicklable: held a lock"):
            await pool.run(fail_unpicklably)
        with pytest.raises(RuntimeError, match=r"unreadable answer.*cannot rebuild here"):
            await asyncio.wait_for(pool.run(make_bomb), 10)
        with pytest.raises(ValueError, match="cannot rebuild here"):  # unreadable in the worker
            await asyncio.wait_for(pool.run(echo, Bomb()), 10)
        return started, await pool.run(echo, 7)

    started, (value, _pid) = asyncio.run(main())
    assert value == 7
    assert {worker.process.pid for worker in pool._all} == started  # no worker died of it


def test_a_worker_that_dies_fails_its_call_only_and_is_replaced(pool):
    async def main():
        first = {pid for _v, pid in await asyncio.gather(*(pool.run(echo, i) for i in range(8)))}
        results = await asyncio.gather(
            pool.run(die), *(pool.run(echo, i) for i in range(10)), return_exceptions=True
        )
        after = await asyncio.gather(*(pool.run(echo, i) for i in range(8)))
        return first, results, after

    first, results, after = asyncio.run(main())

    assert isinstance(results[0], WorkerDied) and "code 3" in str(results[0])
    assert [r[0] for r in results[1:]] == list(range(10))
    pids = {pid for _v, pid in after}
    assert len(pids) == 2 and pids != first  # one of the two is a new process


def test_the_pool_moves_to_a_new_event_loop_and_closes_cleanly():
    pool = ProcessPool(1)
    assert asyncio.run(pool.run(echo, 1))[0] == 1
    assert asyncio.run(pool.run(echo, 2))[0] == 2  # asyncio.run makes a new loop each time
    processes = [w.process for w in pool._all]
    pool.close()
    assert all(not p.is_alive() for p in processes)


PAGE = (
    "<html><head><title>Smelter opens</title></head><body><article><h1>Smelter opens</h1>"
    + "<p>The nickel smelter in Sulawesi started its first line on Monday, officials said.</p>" * 4
    + "</article></body></html>"
)


def test_a_worker_killed_while_idle_is_replaced_before_the_next_page():
    extractor = Extractor(1)

    async def main():
        _value, pid = await extractor.run(echo, 0)
        os.kill(pid, 9)  # as if lxml had crashed it on the previous page
        await asyncio.sleep(0.2)
        page = await extractor.extract(PAGE, "http://x.test/a.html")
        return pid, page, await extractor.run(echo, 1)

    try:
        dead, page, (_value, pid) = asyncio.run(main())
    finally:
        extractor.close()
    assert "first line on Monday" in page.text and page.title == "Smelter opens"
    assert pid != dead


def size_of(payload: str) -> int:
    return len(payload)


def test_a_call_queued_behind_one_that_kills_its_worker_still_runs():
    pool = ProcessPool(1)  # one worker: the echo waits in its pipe behind die()

    async def main():
        await pool.run(echo, 0)
        return await asyncio.gather(pool.run(die), pool.run(echo, 5), return_exceptions=True)

    try:
        died, (value, _pid) = asyncio.run(main())
    finally:
        pool.close()
    assert isinstance(died, WorkerDied) and value == 5


def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def test_a_busy_worker_holds_queued_calls_only_while_they_fit_its_pipe():
    """Queued calls keep a worker going while the loop is busy; more than its pipe's
    buffer holds would block the loop's write until the worker reads."""
    pool = ProcessPool(1)

    async def main():
        await pool.run(echo, 0)  # the worker is up and idle
        worker = pool._all[0]
        running = asyncio.ensure_future(pool.run(nap, 0.5))
        small = [asyncio.ensure_future(pool.run(size_of, "x" * 1000)) for _ in range(3)]
        big = asyncio.ensure_future(pool.run(size_of, "x" * worker.room))
        more = [asyncio.ensure_future(pool.run(size_of, "x" * 10)) for _ in range(10)]
        await asyncio.sleep(0)  # each call's task has run once: handed out or left waiting
        held, queued_bytes = len(worker.calls), worker.queued_bytes()
        answers = await asyncio.wait_for(asyncio.gather(running, *small, big, *more), 30)
        return held, queued_bytes, worker.room, answers

    try:
        held, queued_bytes, room, answers = asyncio.run(main())
    finally:
        pool.close()
    assert held == 4  # the nap and the three small calls; the big one waits its turn
    assert 3000 < queued_bytes < 4000
    assert answers == [0.5, 1000, 1000, 1000, room, *[10] * 10]


def test_a_busy_worker_holds_a_bounded_number_of_calls():
    pool = ProcessPool(1)

    async def main():
        await pool.run(echo, 0)
        running = asyncio.ensure_future(pool.run(nap, 0.3))
        small = [asyncio.ensure_future(pool.run(size_of, "x")) for _ in range(20)]
        await asyncio.sleep(0)  # each call's task has run once
        held = len(pool._all[0].calls)
        await asyncio.wait_for(asyncio.gather(running, *small), 30)
        return held

    try:
        assert asyncio.run(main()) == 1 + ProcessPool.QUEUED_CALLS
    finally:
        pool.close()
