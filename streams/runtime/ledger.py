"""The per-event record of finished work, kept on a Kafka topic so it outlives any one worker.

Each finished effect (an event transmitted, an event evaluated) is written as a record keyed
``flow:eventId`` to the ledger partition with the same number as the source partition, so the
worker that owns a source partition reads back exactly the ledger partition it needs when the
partition is assigned. A redelivered or replayed event found here makes no second Flex call.
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
        self._entries: dict[str, dict[str, Any]] = {}
        self._positions: dict[int, int] = {}  # ledger partition -> next offset to read
        self._partitions: int | None = None
        self._lock = asyncio.Lock()

    @staticmethod
    def key(flow: str, event_id: str) -> str:
        return f"{flow}:{event_id}"

    def get(self, flow: str, event_id: str) -> dict[str, Any] | None:
        return self._entries.get(self.key(flow, event_id))

    def __len__(self) -> int:
        return len(self._entries)

    async def record(self, flow: str, event_id: str, partition: int, entry: dict[str, Any]) -> None:
        """Write a finished effect; returns once the broker acknowledged it."""
        key = self.key(flow, event_id)
        target = partition % await self._partition_count()
        await self._producer.send_and_wait(self._topic, orjson.dumps(entry), key.encode(), partition=target)
        self._entries[key] = entry

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
                    if rec.key is not None and rec.value is not None:
                        self._entries[rec.key.decode()] = orjson.loads(rec.value)
            for tp in tps:
                self._positions[tp.partition] = await reader.position(tp)
        finally:
            await reader.stop()
