"""Long-running tasks that never die silently.

Every loop a worker runs beside Faust (the pipeline's fetch and commit loops, the batch writer, the
result poller, the webhook dedupe tail, the Flex token warm-up) is started with :func:`supervise`.
A loop that raises is logged at once, at error level with its traceback, and started again after a
backoff (1 s, doubling up to 30 s; reset once a run lasted longer than the backoff), so an
unexpected error costs a pause of that one loop, never a worker that looks alive and does nothing.
Cancelling the task (the worker stopping) ends it; a loop that returns is done. A short task whose
owner does not await it at once (a record in the pipeline, a file upload) gets :func:`watch`: its
death is logged the moment it happens, not when the task is garbage-collected.

Each failure is also counted (:func:`count_failures`: the worker's
``flexbridge_task_failures_total``, by kind ``loop`` or ``task``; Faust's agents count as ``agent``,
streams/runtime/worker.py), so an alert sees what otherwise only the log shows.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["FAILURE_KINDS", "count_failures", "supervise", "watch"]

log = logging.getLogger(__name__)

FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
T = TypeVar("T")
FAILURE_KINDS = ("agent", "loop", "task")  # a Faust agent, a supervised loop, a watched task

_counters: list[Callable[[str], None]] = []


def count_failures(count: Callable[[str], None]) -> Callable[[], None]:
    """From now on, call ``count(kind)`` at each failure of a supervised loop (``"loop"``) or a
    watched task (``"task"``); returns what stops it (one worker per process: its metrics)."""
    _counters.append(count)
    return lambda: _counters.remove(count)


def _failed(kind: str) -> None:
    for count in _counters:
        count(kind)


def supervise(name: str, run: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
    """Start ``run()`` as the task ``name``; restart it whenever it raises."""
    return asyncio.create_task(_guard(name, run), name=name)


async def _guard(name: str, run: Callable[[], Awaitable[None]]) -> None:
    backoff = FIRST_BACKOFF_SECONDS
    while True:
        started = time.monotonic()
        try:
            await run()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            if time.monotonic() - started > backoff:
                backoff = FIRST_BACKOFF_SECONDS  # it ran a while: a new failure, not the same one again
            log.exception("task %s died; restarting it in %.0f s", name, backoff)
            _failed("loop")
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)


def watch(task: asyncio.Task[T]) -> asyncio.Task[T]:
    """Log ``task``'s exception, with its traceback, as soon as it dies of one; returns ``task``."""
    task.add_done_callback(_log_death)
    return task


def _log_death(task: asyncio.Task[T]) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("task %s died", task.get_name(), exc_info=exc)
        _failed("task")
