"""Faust's consumer delivers a record without a task when the delivery does not wait, and exactly
as mode's ``wait_first`` does when it does (streams/runtime/faust_eager.py)."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import warnings

import pytest
from mode import Service
from mode.utils.locks import Event

from streams.runtime import faust_eager

TAG: contextvars.ContextVar[str] = contextvars.ContextVar("tag", default="caller's")


class _Tasks:
    """How many tasks are created meanwhile."""

    def __init__(self) -> None:
        self.count = 0

    def __enter__(self) -> _Tasks:
        loop = asyncio.get_running_loop()
        self._factory = loop.get_task_factory()

        def counting(loop: asyncio.AbstractEventLoop, coro: object, **kwargs: object) -> asyncio.Task[object]:
            self.count += 1
            return asyncio.Task(coro, loop=loop, **kwargs)  # type: ignore[arg-type]

        loop.set_task_factory(counting)  # type: ignore[arg-type]
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.get_running_loop().set_task_factory(self._factory)


async def _deliver(log: list[str], value: str) -> str:
    log.append(value)
    TAG.set("delivery's")
    return value


async def _wait_then(gate: asyncio.Future[str], log: list[str]) -> str:
    log.append("before")
    TAG.set("delivery's")
    try:
        got = await gate
    except asyncio.CancelledError:
        log.append("cancelled")
        raise
    log.append(f"after {got} ({TAG.get()})")
    return got.upper()


async def test_a_delivery_that_does_not_wait_finishes_at_once_without_a_task() -> None:
    log: list[str] = []
    with _Tasks() as tasks:
        done, value = faust_eager.started(_deliver(log, "r1"))
    assert (done, value, log, tasks.count) == (True, "r1", ["r1"], 0)
    assert TAG.get() == "caller's"  # it ran in a copy of the context


async def test_a_delivery_that_waits_goes_on_in_a_task_where_it_stopped() -> None:
    log: list[str] = []
    gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    done, task = faust_eager.started(_wait_then(gate, log))
    assert not done and isinstance(task, asyncio.Task)
    assert log == ["before"]  # the first step ran once, now
    gate.set_result("r2")
    assert await task == "R2"
    assert log == ["before", "after r2 (delivery's)"]  # same coroutine, same context
    assert TAG.get() == "caller's"


async def test_cancelling_the_task_cancels_the_waiting_delivery() -> None:
    log: list[str] = []
    gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    _, task = faust_eager.started(_wait_then(gate, log))
    await asyncio.sleep(0)  # the task now waits on the gate
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert log == ["before", "cancelled"] and gate.cancelled()


async def test_an_error_in_the_first_step_is_raised_to_the_caller() -> None:
    async def broken() -> None:
        raise KeyError("no callback for this partition")

    with pytest.raises(KeyError, match="no callback"):
        faust_eager.started(broken())


async def test_wait_first_answers_like_mode_and_closes_the_unneeded_waits() -> None:
    service = Service()
    log: list[str] = []
    delivery, suspended = _deliver(log, "r3"), Event().wait()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "coroutine … was never awaited" would fail the test
        with _Tasks() as tasks:
            results = await faust_eager.wait_first(service, delivery, suspended)
        del suspended
        gc.collect()
    assert (results.done, results.results, results.stopped) == ([delivery], ["r3"], False)
    assert tasks.count == 0


async def test_wait_first_stops_a_waiting_delivery_when_the_flow_is_suspended() -> None:
    service, flow = Service(), Event()
    log: list[str] = []
    gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    delivery, suspended = _wait_then(gate, log), flow.wait()
    waiting = asyncio.ensure_future(faust_eager.wait_first(service, delivery, suspended))
    await asyncio.sleep(0)
    assert log == ["before"] and not waiting.done()
    flow.set()  # a rebalance stops the flow: the delivery is given up, as mode does
    results = await waiting
    assert results.done == [suspended] and not results.stopped
    await asyncio.sleep(0)  # the cancelled delivery runs its handler
    assert log == ["before", "cancelled"]


async def test_wait_first_returns_the_delivery_it_was_given_when_it_finishes_after_waiting() -> None:
    service = Service()
    log: list[str] = []
    gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    delivery, suspended = _wait_then(gate, log), Event().wait()
    waiting = asyncio.ensure_future(faust_eager.wait_first(service, delivery, suspended))
    await asyncio.sleep(0)
    gate.set_result("r4")
    results = await waiting
    assert (results.done, results.results, results.stopped) == ([delivery], ["R4"], False)
