"""Faust's consumer hands each record to its agents without four tasks per record.

Faust's fetch loop (``Consumer._drain_messages``) delivers every record with
``await self.wait_first(callback(record), self.suspend_flow.wait())``: the delivery, unless a
rebalance stops the flow, or the consumer stops or crashes, meanwhile. mode's ``wait_first``
wraps the delivery and three waits in a task each, and cancels the three it did not need: four
tasks and three cancellations per record, most of the worker's CPU per status in the order-state
agent besides the fold itself (docs/benchmarks.md, "What the order-state fold costs").

A delivery almost never waits: it puts the record into the agent's queue, which has room unless
the agent is thousands of records behind. :func:`wait_first` therefore takes the delivery's first
step at once (as Python 3.12's eager tasks do). If that finishes it, the result is the same as
mode's, with no task; if the delivery has to wait, it goes on in a task of its own, and mode's
``wait_first`` waits for it and the rest, exactly as before. Installed by
:func:`streams.runtime.faust_fixes.apply`.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Coroutine, Generator
from typing import Any

from faust.transport.consumer import Consumer
from mode import Service
from mode.services import WaitArgT, WaitResults

__all__ = ["install", "started", "wait_first"]

_original = Service.wait_first


class _Rest:
    """Awaiting this goes on with ``coro`` from its first suspension (``yielded``), as if the
    task awaiting it had driven ``coro`` from the start."""

    def __init__(self, coro: Coroutine[Any, Any, Any], yielded: Any) -> None:
        self.coro, self.yielded = coro, yielded

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, yielded = self.coro, self.yielded
        resume: Callable[[Any], Any]
        while True:
            try:
                sent = yield yielded  # the task waits on it, then resumes us
            except BaseException as exc:  # noqa: BLE001  # thrown in by the task (a cancellation): passed on
                resume, arg = coro.throw, exc
            else:
                resume, arg = coro.send, sent
            try:
                yielded = resume(arg)
            except StopIteration as stop:
                return stop.value


async def _go_on(rest: _Rest) -> Any:
    return await rest


def started(coro: Coroutine[Any, Any, Any]) -> tuple[bool, Any]:
    """Run ``coro`` up to its first suspension, in a copy of the current context.

    ``(True, result)`` if it finished (its exception, if any, is raised here); ``(False, task)``
    if it waits: a task that goes on with it, in the same context."""
    context = contextvars.copy_context()
    try:
        yielded = context.run(coro.send, None)
    except StopIteration as stop:
        return True, stop.value
    return False, asyncio.get_running_loop().create_task(_go_on(_Rest(coro, yielded)), context=context)


async def wait_first(self: Service, *coros: WaitArgT, timeout: Any = None) -> WaitResults:
    """mode's ``Service.wait_first`` (``timeout``: its ``Seconds``, or None), with the first
    coroutine started at once."""
    first = coros[0] if coros else None
    if not asyncio.iscoroutine(first) or self._stopped.is_set() or self._crashed.is_set():
        return await _original(self, *coros, timeout=timeout)
    try:
        done, value = started(first)
    except BaseException:
        _close(coros[1:])
        raise
    if done:
        _close(coros[1:])
        return WaitResults([first], [value], False)
    results = await _original(self, value, *coros[1:], timeout=timeout)  # cancels what lost, as ever
    return WaitResults([first if w is value else w for w in results.done], results.results, results.stopped)


def _close(coros: tuple[WaitArgT, ...]) -> None:
    """The waits a finished delivery did not need: never started, so closed without a warning."""
    for coro in coros:
        if asyncio.iscoroutine(coro):
            coro.close()


def install() -> None:
    Consumer.wait_first = wait_first  # type: ignore[method-assign]
