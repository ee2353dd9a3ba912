"""Work run at most N at once, the work of one key strictly one after another in the order given.

The command agent's (streams/runtime/commands.py): commands of many orders run side by side, those
of one order in the order read. A started piece of work waits for its key's previous one to end,
holding its slot meanwhile, so :meth:`KeyedTasks.start` blocks (and the agent stops reading) while
every slot is taken.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable

from streams.runtime.supervise import watch

__all__ = ["KeyedTasks"]


class KeyedTasks:
    def __init__(self, limit: int) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._tails: dict[Hashable, asyncio.Task[None]] = {}  # each key's last work started
        self._running: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._running)

    async def start(self, key: Hashable, work: Callable[[], Awaitable[None]]) -> None:
        """Start ``work`` once a slot is free, after the work started before under ``key``."""
        await self._slots.acquire()
        task = watch(asyncio.create_task(_after(self._tails.get(key), work)))
        self._tails[key] = task
        self._running.add(task)
        task.add_done_callback(lambda done: self._forget(key, done))

    async def stop(self) -> None:
        """Cancel the work in progress and wait for it to end."""
        running = list(self._running)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    def _forget(self, key: Hashable, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if self._tails.get(key) is task:
            del self._tails[key]
        self._slots.release()


async def _after(previous: asyncio.Task[None] | None, work: Callable[[], Awaitable[None]]) -> None:
    if previous is not None and not previous.done():
        await asyncio.wait([previous])
    await work()
