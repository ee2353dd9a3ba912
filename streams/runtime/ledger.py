"""The per-event record of finished work, kept on a Kafka topic so it outlives any one worker.

Each finished effect (an event transmitted or evaluated by the real-time bridge; an event in a batch
file renamed into Flex's inbound folder, :meth:`Ledger.record_all`) is written as a record keyed
``flow:eventId`` to the ledger partition with the same number as the source partition, so the
worker that owns a source partition reads back exactly the ledger partition it needs when the
partition is assigned. A redelivered or replayed event found here makes no second Flex call and
goes in no second batch file. A worker's pipeline and batch path read the same source topics in two
groups, so in two assignments: one ledger serves both, holding the partitions either needs.

In memory the ledger is only the finished keys, as the bytes Kafka carries them, each with its
ledger partition: whether an event is finished is all a worker asks of it, and its entries parsed
took six times the room: 644 bytes an evaluate entry read back, against 109 for its key and
partition (tracemalloc around a load of 20,000, tests/integration/runtime/test_ledger.py). A
tombstone (a record without a value) forgets its key, as compaction would. A worker holds the keys
of its own partitions only: on each assignment (the whole of it: aiokafka's rebalances are eager) it
forgets those of the partitions that went to another worker, a chunk at a time with the event loop
running between, and reads one again from its start should it come back.

When the topic deletes old records (``cleanup.policy`` with ``delete``, and a ``retention.ms``), a
worker forgets the keys older than that retention too, as a worker started later would never read
them: so a long-lived worker holds no more than the topic does. The keys are kept in generations of
an eighth of the retention each; when a key opens a new generation, those whose every key is past
the retention are dropped whole. So a key is never forgotten sooner than one retention after its
record, and, while keys keep coming, within 1⅛ retentions. Without
such a retention (compacted only, or the topic's settings not readable) every key is kept.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer, TopicPartition

from core.settings import KafkaSettings
from streams.kafka.bulk import send_batches
from streams.kafka.clients import make_consumer, read_to_end
from streams.kafka.topics import retention_ms

__all__ = ["Ledger"]

_PURGE_CHUNK = 20_000  # keys looked at between chances for the event loop to run (a few ms)


class Ledger:
    """The ledger ``topic`` (``FLEXBRIDGE_TOPICS__LEDGER``): written with ``producer``, read back apart."""

    def __init__(
        self,
        kafka: KafkaSettings,
        topic: str,
        producer: AIOKafkaProducer,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._kafka = kafka
        self._topic = topic
        self._producer = producer
        self._clock = clock
        # the keys of finished effects → their ledger partition, by generation (the record time //
        # _span; one while _span is None)
        self._done: dict[int, dict[bytes, int]] = {}
        self._held: set[int] = set()  # the ledger partitions with keys here
        self._wanted: dict[str, set[int]] = {}  # by reader (the pipeline, the batch path): its partitions
        self._retention: int | None = None  # ms, the topic's when it deletes old records
        self._span: int | None = None  # ms a generation covers: an eighth of the retention
        self._positions: dict[int, int] = {}  # ledger partition -> next offset to read
        self._partitions: int | None = None
        self._lock = asyncio.Lock()
        self._learning = asyncio.Lock()  # one lookup of the partitions and retention

    @staticmethod
    def key(flow: str, event_id: str) -> bytes:
        return f"{flow}:{event_id}".encode()

    def has(self, flow: str, event_id: str) -> bool:
        """Whether ``flow``'s effect of event ``event_id`` is recorded as finished."""
        key = self.key(flow, event_id)
        for keys in self._done.values():
            if key in keys:
                return True
        return False

    def __len__(self) -> int:
        return sum(map(len, self._done.values()))

    async def record(self, flow: str, event_id: str, partition: int, entry: dict[str, Any]) -> None:
        """Write a finished effect; returns once the broker acknowledged it."""
        key = self.key(flow, event_id)
        target = partition % await self._partition_count()
        now = self._now()
        await self._producer.send_and_wait(
            self._topic, orjson.dumps(entry), key, partition=target, timestamp_ms=now
        )
        self._held.add(target)
        self._add(key, target, now, now)

    async def record_all(
        self,
        flow: str,
        event_ids: Sequence[str],
        partition: int,
        entry: dict[str, Any],
        producer: AIOKafkaProducer | None = None,
    ) -> None:
        """Write the same finished effect for many events of one source partition (a batch file's
        records) in bulk, through ``producer`` (its batch size) when given; returns once the broker
        acknowledged them all."""
        target = partition % await self._partition_count()
        now, value = self._now(), orjson.dumps(entry)
        keys = [self.key(flow, event_id) for event_id in event_ids]
        sent = await send_batches(
            producer or self._producer, self._topic, target, [(k, value) for k in keys], now
        )
        await asyncio.gather(*sent)
        self._held.add(target)
        for key in keys:
            self._add(key, target, now, now)

    def _now(self) -> int:
        return int(self._clock() * 1000)

    def _add(self, key: bytes, partition: int, at: int, now: int) -> None:
        """Note ``key`` of ledger ``partition``, recorded at ``at`` (ms); a key past the retention is
        not kept, and the generations past it are dropped."""
        if self._span is None:
            self._done.setdefault(0, {})[key] = partition
            return
        assert self._retention is not None  # set with the span  # noqa: S101
        cutoff = now - self._retention
        if at < cutoff:
            return
        generation = at // self._span
        keys = self._done.get(generation)
        if keys is None:  # a new generation: any past the retention goes
            for old in [g for g in self._done if (g + 1) * self._span <= cutoff]:
                del self._done[old]
            keys = self._done[generation] = {}
        keys[key] = partition

    def _forget(self, key: bytes) -> None:
        for keys in self._done.values():
            keys.pop(key, None)

    async def _keep_only(self, wanted: set[int]) -> None:
        """Forget the keys of the ledger partitions not ``wanted`` any more; such a partition is
        read from its start should it be wanted again. A worker may hold millions of keys: they
        are looked at :data:`_PURGE_CHUNK` at a time, the event loop running between (until they
        are gone a key of a lost partition still answers ``has()``: the event is finished all the
        same). A dict keeps the room of the keys it lost until it grows again."""
        lost = self._held - wanted
        if not lost:
            return
        self._held -= lost
        for partition in lost:
            self._positions.pop(partition, None)
        for keys in list(self._done.values()):
            snapshot = list(keys)  # a record() meanwhile adds to the dict: it is not iterated
            for start in range(0, len(snapshot), _PURGE_CHUNK):
                for key in snapshot[start : start + _PURGE_CHUNK]:
                    if keys.get(key) in lost:
                        del keys[key]
                await asyncio.sleep(0)

    async def load(
        self,
        source: Collection[TopicPartition],
        reader: str = "pipeline",
        only: Collection[bytes] | None = None,
    ) -> None:
        """Read what other workers (or an earlier life of this one) recorded for these source
        partitions, the whole assignment of ``reader`` (the pipeline's consumer, the batch path's:
        two groups, two assignments); the keys of the ledger partitions no reader needs go. With
        ``only``, just those keys are kept (a replay plan's one load, streams/ops/outcomes.py: a later
        load would read on past the others)."""
        count = await self._partition_count()
        async with self._lock:
            self._wanted[reader] = {tp.partition % count for tp in source}
            wanted = set().union(*self._wanted.values())
            await self._keep_only(wanted)
            if wanted:
                self._held |= wanted
                await self._read([TopicPartition(self._topic, p) for p in sorted(wanted)], only)

    async def start(self) -> None:
        """Learn the topic's partitions and retention now (beside the consumers' group join, so the
        first assignment's read-back does not wait for them); else the first write or load does."""
        await self._partition_count()

    async def _partition_count(self) -> int:
        if self._partitions is None:
            async with self._learning:
                if self._partitions is None:
                    self._retention = await retention_ms(self._kafka, self._topic)
                    self._span = None if self._retention is None else max(self._retention // 8, 1)
                    self._partitions = len(await self._producer.partitions_for(self._topic))
        return self._partitions

    async def _read(self, tps: list[TopicPartition], only: Collection[bytes] | None) -> None:
        reader = make_consumer(self._kafka, reads_to_end=True)
        await reader.start()
        try:
            reader.assign(tps)
            for tp in tps:
                reader.seek(tp, self._positions.get(tp.partition, 0))
            now = self._now()
            async for part, records in read_to_end(reader, tps):
                for rec in records:
                    if rec.key is None or (only is not None and rec.key not in only):
                        continue
                    if rec.value is None:
                        self._forget(rec.key)
                    else:
                        at = rec.timestamp if rec.timestamp >= 0 else now
                        self._add(rec.key, part.partition, at, now)
            for tp in tps:
                self._positions[tp.partition] = await reader.position(tp)
        finally:
            await reader.stop()
