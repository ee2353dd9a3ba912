"""Folds: a command of an order the table lacks waits until the statuses read before it are folded."""

from __future__ import annotations

import asyncio

from streams.runtime.folds import Folds


class Ends:
    """A partition's end and committed offset as the Faust consumer would give them; ``looked`` is set
    each time the waiter asks."""

    def __init__(self, end: int | None, committed: int = 0) -> None:
        self.end, self.committed = end, committed
        self.looked = asyncio.Event()
        self.asked = 0

    def __call__(self, partition: int) -> tuple[int | None, int]:
        self.asked += 1
        self.looked.set()
        return self.end, self.committed


async def _asked_again(ends: Ends) -> None:
    ends.looked.clear()
    await asyncio.wait_for(ends.looked.wait(), 5)


async def test_an_order_in_the_table_or_a_partition_folded_to_its_end_answers_at_once() -> None:
    ends = Ends(end=10, committed=4)
    folds = Folds(ends)
    await asyncio.wait_for(folds.wait(1, lambda: True), 5)
    assert ends.asked == 0  # found: nothing looked up
    folds.folded(1, 9)  # the status at offset 9 folded: the partition is folded to its end
    await asyncio.wait_for(folds.wait(1, lambda: False), 5)
    assert ends.asked == 1
    await asyncio.wait_for(Folds(Ends(end=10, committed=10)).wait(1, lambda: False), 5)  # committed


async def test_a_command_waits_until_the_statuses_before_it_are_folded() -> None:
    ends = Ends(end=10)
    folds = Folds(ends)
    folds.folded(1, 4)
    waiting = asyncio.create_task(folds.wait(1, lambda: False))
    await _asked_again(ends)
    assert not waiting.done()
    folds.folded(2, 50)  # another partition's folds do not count
    await _asked_again(ends)
    assert not waiting.done()
    ends.end = 20  # statuses published after the command was read are not waited for
    folds.folded(1, 9)
    await asyncio.wait_for(waiting, 5)


async def test_the_wait_ends_when_the_order_shows_up_or_the_end_is_not_known_in_time() -> None:
    table: dict[str, str] = {}
    ends = Ends(end=10)
    folds = Folds(ends)
    waiting = asyncio.create_task(folds.wait(1, lambda: "ORD-1" in table))
    await _asked_again(ends)
    assert not waiting.done()
    table["ORD-1"] = "{}"  # folded: the order is there before the partition's end
    await asyncio.wait_for(waiting, 5)
    unknown = Ends(end=None)  # the partition not fetched yet (or revoked): at most the timeout
    await asyncio.wait_for(Folds(unknown).wait(1, lambda: False, timeout=0.2), 5)
    assert unknown.asked >= 1


async def test_without_a_faust_consumer_nothing_is_waited_for() -> None:
    await asyncio.wait_for(Folds().wait(1, lambda: False), 5)
