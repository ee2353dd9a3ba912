"""Faust's recovery seek: an offset of None or below -1 reads the changelog partition from the
start instead of stopping the worker (streams/runtime/faust_fixes.py)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from faust.types import TP

from streams.runtime import faust_fixes


class _Consumer:
    def __init__(self) -> None:
        self.sought: dict[Any, int] = {}

    async def seek_wait(self, offsets: dict[Any, int]) -> None:
        self.sought = dict(offsets)


async def test_none_and_offsets_below_minus_one_seek_to_the_start() -> None:
    tps = [TP("orders-changelog", p) for p in range(4)]
    offsets: Counter[TP] = Counter({tps[0]: None, tps[1]: -2, tps[2]: -1, tps[3]: 41})
    consumer = _Consumer()
    await faust_fixes._seek_offsets(None, consumer, set(tps), offsets, "active")  # type: ignore[arg-type]
    assert consumer.sought == {tps[0]: 0, tps[1]: 0, tps[2]: 0, tps[3]: 41}


class _Committed:
    """aiokafka's consumer as ``seek_to_committed`` uses it: what it was asked, in order."""

    def __init__(self, committed: dict[Any, int | None]) -> None:
        self.committed = committed
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    async def seek_to_committed(self) -> dict[Any, int | None]:
        return dict(self.committed)

    def seek(self, tp: Any, offset: int) -> None:
        self.calls.append(("seek", (tp, offset)))

    async def seek_to_beginning(self, *tps: Any) -> None:
        self.calls.append(("beginning", tps))

    async def seek_to_end(self, *tps: Any) -> None:
        self.calls.append(("end", tps))


async def test_partitions_never_committed_are_reset_in_one_call() -> None:
    """Each reset waits for aiokafka's fetcher to come round between two fetches (up to Faust's
    1.5 s fetch wait): asked one partition at a time, the 17 never committed on a fresh start (the
    commands, the statuses, Faust's leader topic) held the agents back for 11.85 s."""
    status = [TP("orders.status", p) for p in range(4)]
    changelog = TP("orders-changelog", 0)
    committed: dict[Any, int | None] = {status[0]: None, status[1]: 0, status[2]: 7, status[3]: None}
    consumer = _Committed({**committed, changelog: None})
    await faust_fixes.seek_to_committed(consumer, "earliest", {changelog.topic})
    assert consumer.calls == [("seek", (status[1], 0)), ("beginning", (status[0], status[3]))]
    consumer.calls.clear()
    await faust_fixes.seek_to_committed(consumer, "latest", {changelog.topic})
    assert consumer.calls == [("seek", (status[1], 0)), ("end", (status[0], status[3]))]
