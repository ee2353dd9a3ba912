"""One webhook's publication (streams/runtime/webhooks.py): its records, which of them Kafka
acknowledged, and the task producing them, which a redelivery of the same webhook waits for."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

__all__ = ["Headers", "Publication", "failure_of", "retrieve"]

Headers = list[tuple[str, bytes]]


@dataclass(slots=True)
class Publication:
    """The records of one webhook, which of them Kafka acknowledged, and the task producing them."""

    records: list[tuple[str, bytes | None, bytes, Headers]]
    acked: list[bool] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    answered: bool = False

    def running(self) -> bool:
        """True while the task runs (or finished well); False when none ran yet or it failed."""
        task = self.task
        if task is None:
            return False
        return not task.done() or (not task.cancelled() and task.exception() is None)


def failure_of(task: asyncio.Task[None]) -> BaseException | None:
    """Why a publication has not (yet) succeeded: TimeoutError while it runs, its error, or None."""
    if not task.done():
        return TimeoutError()
    if task.cancelled():
        return asyncio.CancelledError()
    return task.exception()


def retrieve(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()  # read, so a failure nobody waited for is not reported as lost
