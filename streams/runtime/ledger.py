"""The per-event record of finished work, kept on a Kafka topic so it outlives any one worker.

Each finished effect (an event transmitted, an event evaluated) is written as a record keyed
``flow:eventId`` to the ledger partition with the same number as the source partition, so the
worker that owns a source partition reads back exactly the ledger partition it needs when the
partition is assigned. A redelivered or replayed event found here makes no second Flex call.

In memory the ledger is only the set of finished keys, as the bytes Kafka carries them: whether
an event is finished is all a worker asks of it, and its entries parsed took three and a half times
the room: 644 bytes an evaluate entry read back, against 184 for its key (tracemalloc around a
load of 20,000, tests/integration/runtime/test_ledger.py). A tombstone (a record without a value)
forgets its key, as compaction would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer, TopicPartition

from core.settings import KafkaSettings
from streams.kafka.clients import make_consumer, read_to_end

__all__ = ["Ledger"]


class Ledger:
    """The ledger ``topic`` (``FLEXBRIDGE_TOPICS__LEDGER``): written with ``producer``, read back apart."""

    def __init__(self, kafka: KafkaSettings, topic: str, producer: AIOKafkaProducer) -> None:
        self._kafka = kafka
        self._topic = topic
        self._producer = producer
        self._done: set[bytes] = set()  # the keys of finished effects
        self._positions: dict[int, int] = {}  # ledger partition -> next offset to read
        self._partitions: int | None = None
        self._lock = asyncio.Lock()

    @staticmethod
    def key(flow: str, event_id: str) -> bytes:
        return f"{flow}:{event_id}".encode()

    def has(self, flow: str, event_id: str) -> bool:
        """Whether ``flow``'s effect of event ``event_id`` is recorded as finished."""
        return self.key(flow, event_id) in self._done

    def __len__(self) -> int:
        return len(self._done)

    async def record(self, flow: str, event_id: str, partition: int, entry: dict[str, Any]) -> None:
        """Write a finished effect; returns once the broker acknowledged it."""
        key = self.key(flow, event_id)
        target = partition % await self._partition_count()
        await self._producer.send_and_wait(self._topic, orjson.dumps(entry), key, partition=target)
        self._done.add(key)

    async def load(self, source: Collection[TopicPartition]) -> None:
        """Read what other workers (or an earlier life of this one) recorded for these partitions."""
        count = await self._partition_count()
        wanted = sorted({tp.partition % count for tp in source})
        if wanted:
            async with self._lock:
                await self._read([TopicPartition(self._topic, p) for p in wanted])

    async def _partition_count(self) -> int:
        if self._partitions is None:
            parts = await self._producer.partitions_for(self._topic)
            self._partitions = len(parts)
        return self._partitions

    async def _read(self, tps: list[TopicPartition]) -> None:
        reader = make_consumer(self._kafka, reads_to_end=True)
        await reader.start()
        try:
            reader.assign(tps)
            for tp in tps:
                reader.seek(tp, self._positions.get(tp.partition, 0))
            async for _tp, records in read_to_end(reader, tps):
                for rec in records:
                    if rec.key is None:
                        continue
                    if rec.value is None:
                        self._done.discard(rec.key)
                    else:
                        self._done.add(rec.key)
            for tp in tps:
                self._positions[tp.partition] = await reader.position(tp)
        finally:
            await reader.stop()
