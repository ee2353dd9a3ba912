"""The durable side of the batch registry: a compacted Kafka topic keyed by batch file name.

``FLEXBRIDGE_TOPICS__BATCHES`` (``flexbridge.batches``) holds one record per evaluate batch file —
its records still waiting for a result and whether its response file was processed — written to
the partition with the same number as the file's source partition (modulo the topic's partition
count). A worker that is assigned a source partition (after a restart, or taking over from another
worker) reads those partitions back before it handles any response file or reports anything
missing, so records uploaded by an earlier life are still reported ``FAILED no-batch-result``
when no result comes, and a response file processed twice publishes once. A ``None`` value
(tombstone) forgets a settled file. The same topic keeps, per source partition, the files uploaded
past its commit (uploaded.py), read back with the registry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection

from aiokafka import AIOKafkaProducer, TopicPartition

from consumers.retry import OUTAGE, retry
from consumers.sftp.registry import BatchRegistry, decode_entry
from core.settings import KafkaSettings
from schemas.batch import parse_file_name, safe_topic
from streams.kafka.clients import make_consumer, read_to_end
from streams.kafka.errors import kafka_op
from streams.runtime.batch.uploaded import Uploaded, key_of, partition_of_key

__all__ = ["BatchStore"]

log = logging.getLogger(__name__)


class BatchStore:
    """Implements consumers.sftp.registry.RegistryJournal on ``topic`` (``FLEXBRIDGE_TOPICS__BATCHES``),
    and uploaded.UploadedJournal."""

    def __init__(self, kafka: KafkaSettings, topic: str, producer: AIOKafkaProducer) -> None:
        self._kafka = kafka
        self._topic = topic
        self._producer = producer
        self._partitions = 0
        self._order = asyncio.Lock()
        self._uploaded: dict[tuple[str, int], Uploaded] = {}  # read back by load(), taken by uploaded_of()

    async def start(self) -> None:
        """Learn the topic's partition count (the topic must exist)."""
        self._partitions = len(await self._producer.partitions_for(self._topic))

    async def write(self, name: str, partition: int, entry: bytes | None) -> None:
        target = partition % self._partitions
        async with self._order:  # FIFO: a file's states reach the topic in the order they were taken
            await self._producer.send_and_wait(self._topic, entry, name.encode(), partition=target)

    async def load(self, source: Collection[TopicPartition], registry: BatchRegistry) -> int:
        """Restore into ``registry`` the files written from ``source`` partitions; returns how many it
        did not know yet."""
        wanted = {(safe_topic(tp.topic), tp.partition) for tp in source}
        if not wanted:
            return 0
        tps = [TopicPartition(self._topic, p) for p in sorted({n % self._partitions for _, n in wanted})]
        latest = await self._read(tps)
        restored = 0
        for name, raw in latest.items():
            if (origin := partition_of_key(name)) is not None:
                if origin in wanted:
                    self._uploaded[origin] = Uploaded.decode(raw)
                continue
            parsed = parse_file_name(name)
            if raw is None or parsed is None or (parsed.topic, parsed.partition) not in wanted:
                continue
            try:
                restored += registry.restore(decode_entry(raw))
            except ValueError as exc:
                log.error("batch registry record %s ignored: %s", name, exc)
        return restored

    def uploaded_of(self, tp: TopicPartition) -> Uploaded:
        """The files uploaded past ``tp``'s commit, as :meth:`load` read them back."""
        return self._uploaded.pop((safe_topic(tp.topic), tp.partition), None) or Uploaded()

    def loaded(self) -> dict[TopicPartition, Uploaded]:
        """What :meth:`load` read back and :meth:`uploaded_of` has not taken yet, by source partition
        (its topic as in file names, which :meth:`write_uploaded` keys the same)."""
        return {TopicPartition(topic, partition): u for (topic, partition), u in self._uploaded.items()}

    async def write_uploaded(self, tp: TopicPartition, encoded: str) -> None:
        """Record ``tp``'s files uploaded past its commit (``""``: none; a tombstone); waits out an outage."""
        key, value = key_of(tp.topic, tp.partition), encoded.encode() or None
        write = kafka_op(lambda: self.write(key, tp.partition, value))
        await retry(write, OUTAGE, what="recording uploaded batch files", log=log)

    async def _read(self, tps: list[TopicPartition]) -> dict[str, bytes | None]:
        reader = make_consumer(self._kafka, reads_to_end=True)
        await reader.start()
        latest: dict[str, bytes | None] = {}
        try:
            reader.assign(tps)
            await reader.seek_to_beginning(*tps)
            async for _tp, records in read_to_end(reader, tps):
                for rec in records:
                    if rec.key is not None:
                        latest[rec.key.decode(errors="replace")] = rec.value
        finally:
            await reader.stop()
        return latest
