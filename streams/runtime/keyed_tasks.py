"""Work run at most N at once, and at most one piece of one key's at a time, in the order started.

The command agent's (streams/runtime/commands.py): commands of many orders run side by side, those
of one order one after another. :meth:`KeyedTasks.start` returns once the work has started, so its
caller (the agent, reading commands) waits while every slot is taken, or while the key's previous
work runs: nothing queues in the process behind work in progress. So a rebalance, which waits for
every command read and not yet answered, waits for the slowest command in flight and the one the
agent holds, never for a chain of one order's commands.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Hashable
from typing import Any

from streams.runtime.supervise import watch

__all__ = ["KeyedTasks"]


class KeyedTasks:
    def __init__(self, limit: int) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._running: dict[Hashable, asyncio.Task[None]] = {}  # by key: at most one each

    def __len__(self) -> int:
        return len(self._running)

    async def start(self, key: Hashable, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Start ``work`` once ``key``'s previous work has ended and a slot is free."""
        previous = self._running.get(key)
        if previous is not None:
            await asyncio.wait([previous])
        await self._slots.acquire()
        task = watch(asyncio.create_task(work()))
        self._running[key] = task
        task.add_done_callback(lambda done: self._forget(key, done))

    async def stop(self) -> None:
        """Cancel the work in progress and wait for it to end."""
        running = list(self._running.values())
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    def _forget(self, key: Hashable, task: asyncio.Task[None]) -> None:
        if self._running.get(key) is task:
            del self._running[key]
        self._slots.release()
