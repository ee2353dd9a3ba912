"""tail_topic's pace once caught up: after a read that brought records it waits ``pace_seconds``
before the next; an empty read does not wait (getmany already waited), nor does the read-back
before it has caught up."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import ConsumerRecord, TopicPartition

from core.settings import KafkaSettings
from streams.kafka import clients
from streams.kafka.clients import Records, tail_topic

TP = TopicPartition("flex.webhooks", 0)


def record(offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(TP.topic, 0, offset, 0, 0, None, b"v", None, 1, 1, [])


class _Consumer:
    """One partition whose end is offset 2. Reads bring: record 0, record 1 (caught up), nothing,
    then one record each."""

    def __init__(self) -> None:
        self.reads = 0
        self.delivered = 0
        self.read = asyncio.Event()

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def assign(self, tps: list[TopicPartition]) -> None: ...

    async def seek_to_beginning(self, *tps: TopicPartition) -> None: ...

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(tps, 2)

    _isolation_level = "read_committed"

    def highwater(self, tp: TopicPartition) -> int:
        return max(2, self.delivered)

    def last_stable_offset(self, tp: TopicPartition) -> int:
        return self.highwater(tp)  # no transaction open

    async def position(self, tp: TopicPartition) -> int:
        return self.delivered

    async def getmany(self, **_: Any) -> dict[TopicPartition, Records]:
        await asyncio.sleep(0)  # a read gives the loop a turn, as aiokafka's does
        self.reads += 1
        self.read.set()
        if self.reads == 3:
            return {}
        self.delivered += 1
        return {TP: [record(self.reads - 1)]}


class _Producer:
    async def partitions_for(self, topic: str) -> set[int]:
        return {0}


async def test_once_caught_up_a_read_with_records_waits_before_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    consumer = _Consumer()
    monkeypatch.setattr(clients, "make_consumer", lambda *_a, **_k: consumer)
    got: list[Records] = []
    loaded = asyncio.Event()
    producer = _Producer()
    follow = asyncio.create_task(
        tail_topic(KafkaSettings(), producer, TP.topic, got.append, loaded.set, pace_seconds=3600)  # type: ignore[arg-type]
    )
    try:
        while consumer.reads < 4:  # a pause too early would hold it: the guard fails it then
            consumer.read.clear()
            await asyncio.wait_for(consumer.read.wait(), 10)
        for _ in range(20):  # the loop's turns: without the pause it would read again at once
            await asyncio.sleep(0)
        assert loaded.is_set()
        # reading back (no pause), caught up, an empty read (no pause), one record: then the pause
        assert consumer.reads == 4
        assert [[r.offset for r in batch] for batch in got] == [[0], [1], [3]]
    finally:
        follow.cancel()
        await asyncio.gather(follow, return_exceptions=True)
