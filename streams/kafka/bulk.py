"""Producing many records at once: one produce batch per partition (as many as the producer's batch
size needs) instead of one ``send`` per record, partitioned as the producer's default partitioner
(murmur2 of the key) or to one given partition. For the batch path's thousands of statuses and
ledger entries per file (streams/runtime/status.py, streams/runtime/ledger.py). The same murmur2
places each keyed ``send`` of flexbridge's producers that names no partition (:func:`key_partitioner`)."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

__all__ = ["key_partitioner", "murmur2", "partition_for", "produce_keyed", "send_batches"]


async def produce_keyed(producer: AIOKafkaProducer, topic: str, items: Sequence[tuple[bytes, bytes]]) -> None:
    """Produce ``(key, value)`` records and wait for every acknowledgement: one produce batch per
    partition (as many as the producer's batch size needs) instead of one ``send`` per record.
    Partitioned by :func:`key_partitioner` (murmur2 of the key), so each record lands where
    ``send(topic, value, key)`` would have put it; a partition's records keep their order."""
    partitions = sorted(await producer.partitions_for(topic))
    by_partition: dict[int, list[tuple[bytes, bytes]]] = {}
    for key, value in items:
        target = key_partitioner(key, partitions, partitions)
        by_partition.setdefault(target, []).append((key, value))
    sent = [await send_batches(producer, topic, p, records) for p, records in by_partition.items()]
    await asyncio.gather(*(f for futures in sent for f in futures))


async def send_batches(
    producer: AIOKafkaProducer,
    topic: str,
    partition: int,
    records: Sequence[tuple[bytes, bytes | None]],
    timestamp_ms: int | None = None,
) -> list[asyncio.Future[object]]:
    """Hand ``records`` (a value of None: a tombstone) to ``producer`` as produce batches for one
    partition, in order (as many batches as its batch size needs); the futures of their
    acknowledgements."""
    futures = []
    batch = producer.create_batch()
    for key, value in records:
        if batch.append(key=key, value=value, timestamp=timestamp_ms) is None:  # full: send, start another
            futures.append(await producer.send_batch(batch, topic, partition=partition))
            batch = producer.create_batch()
            batch.append(key=key, value=value, timestamp=timestamp_ms)  # a first record always fits
    futures.append(await producer.send_batch(batch, topic, partition=partition))
    return futures


def key_partitioner(key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]) -> int:
    """aiokafka's default partitioner (``aiokafka.partitioner.DefaultPartitioner``) with this
    module's murmur2: a keyed record lands on the same partition in half the time (a status, a
    webhook record, a dead letter); one without a key on a random available partition."""
    if key is None:
        chosen: int = _KEYLESS(key, all_partitions, available)
        return chosen
    return all_partitions[partition_for(key, len(all_partitions))]


_KEYLESS = DefaultPartitioner()  # aiokafka's own choice for a record without a key


def partition_for(key: bytes, partitions: int) -> int:
    """The partition of ``key`` among ``partitions``, as Kafka's default partitioner (Java's, and
    aiokafka's) places a keyed record: murmur2 of the key."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


_M, _MASK = 0x5BD1E995, 0xFFFFFFFF
_WORDS = [struct.Struct(f"<{n}I").unpack_from for n in range(64)]  # keys of up to 255 bytes


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 of a key, as ``aiokafka.partitioner.murmur2`` computes it byte by byte, read
    four bytes at a time (in less than half its time: one per status of a batch file)."""
    length = len(data)
    h = 0x9747B28C ^ length
    whole = length & ~3
    n = whole >> 2
    for k in _WORDS[n](data) if n < len(_WORDS) else struct.unpack_from(f"<{n}I", data):
        k = (k * _M) & _MASK
        k = ((k ^ (k >> 24)) * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    extra = length - whole
    if extra:
        if extra == 3:
            h ^= data[whole + 2] << 16
        if extra >= 2:
            h ^= data[whole + 1] << 8
        h = ((h ^ data[whole]) * _M) & _MASK
    h = ((h ^ (h >> 13)) * _M) & _MASK
    return h ^ (h >> 15)
