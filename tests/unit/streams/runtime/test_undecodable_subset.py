"""GuardedFetch reading a subset of its partitions (as Faust's fetcher does), and positions the caller
moved itself: only the partitions read are rewound, and a rewind starts where the caller put them.

A stand-in for aiokafka's consumer (pure unit test): the first ``getmany`` takes three records from
partition 0 and fails on partition 1's batch, as aiokafka does (docs in streams/runtime/undecodable.py).
"""

from __future__ import annotations

from collections.abc import Collection
from types import SimpleNamespace
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import CorruptRecordException

from streams.runtime.undecodable import GuardedFetch, Held

A, B, C = (TopicPartition("orders.commands", p) for p in range(3))


class Consumer:
    def __init__(self) -> None:
        self.pos = {A: 8, B: 3, C: 20}  # A: the failed call already took 5..7; C: never read here
        self.committed_at = {A: 0, B: 3, C: 10}
        self.paused_tps: set[TopicPartition] = set()
        self.fail_next = True

    def assignment(self) -> set[TopicPartition]:
        return {A, B, C}

    def paused(self) -> set[TopicPartition]:
        return set(self.paused_tps)

    def pause(self, *tps: TopicPartition) -> None:
        self.paused_tps.update(tps)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.pos[tp] = offset

    async def position(self, tp: TopicPartition) -> int:
        return self.pos[tp]

    async def committed(self, tp: TopicPartition) -> int:
        return self.committed_at[tp]

    async def beginning_offsets(self, tps: Collection[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(tps, 0)

    async def getmany(self, *tps: TopicPartition, timeout_ms: int, max_records: int) -> dict[Any, Any]:
        if self.fail_next:
            self.fail_next = False
            raise CorruptRecordException("Invalid CRC")
        (tp,) = tps
        if tp == B:
            raise CorruptRecordException("Invalid CRC")
        start = self.pos[tp]
        self.pos[tp] = start + min(3, max_records)
        return {tp: [SimpleNamespace(offset=o) for o in range(start, self.pos[tp])]}


async def test_only_the_partitions_read_are_rewound_from_where_the_caller_moved_them() -> None:
    consumer = Consumer()
    held: list[Held] = []
    fetch = GuardedFetch(consumer, "agents", held.append)
    fetch.moved({A: 5, C: None})  # the caller sought A to 5 itself (its committed offset is 0)

    got = await fetch.getmany(A, B, timeout_ms=10, max_records=100)

    assert {tp: [r.offset for r in records] for tp, records in got.items()} == {A: [5, 6, 7]}
    assert [(h.reader, h.partition, h.offset) for h in held] == [("agents", 1, 3)]
    assert consumer.paused_tps == {B} and consumer.pos[C] == 20  # C was not read: left where it was
    assert [h.partition for h in fetch.held()] == [1]
