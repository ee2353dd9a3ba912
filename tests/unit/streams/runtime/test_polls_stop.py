"""Stopping the result polls: no round begins any more, a round under way finishes within the drain
timeout (a response file it claimed is filed, not left in processing/ for minutes), and one that
outlasts it is cancelled."""

from __future__ import annotations

import asyncio

from streams.runtime.batch.polls import ResultPolls


def _polls(running: dict[str, asyncio.Task[None]], drain: float) -> ResultPolls:
    polls = object.__new__(ResultPolls)  # only what stop() reads
    polls._task = asyncio.create_task(asyncio.sleep(3600))  # the scheduler, between rounds
    polls._running = running
    polls._drain_timeout = drain
    return polls


async def test_a_round_under_way_finishes_and_the_scheduler_stops() -> None:
    released, done = asyncio.Event(), []

    async def round_() -> None:
        await released.wait()  # e.g. publishing the rows of a file it claimed
        done.append("filed")

    task = asyncio.create_task(round_())
    polls = _polls({"acme": task}, drain=30.0)
    scheduler = polls._task
    assert scheduler is not None
    stopping = asyncio.create_task(polls.stop())
    await asyncio.sleep(0)  # one turn of the loop (a yield): stop() runs up to its wait for the round
    assert scheduler.cancelling() and not stopping.done()
    released.set()
    await stopping
    assert done == ["filed"] and not task.cancelled()


async def test_a_round_that_outlasts_the_drain_timeout_is_cancelled() -> None:
    task = asyncio.create_task(asyncio.Event().wait())  # a hung SFTP call
    await _polls({"acme": task}, drain=0.01).stop()
    assert task.cancelled()
