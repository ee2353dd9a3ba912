"""The chaos workload's second command round is partitioned as librdkafka's default partitioner
does it, so that its commands land off their orders' partitions (bench/chaos_workload.py)."""

from __future__ import annotations

import zlib

from bench.chaos_workload import crc32_partitioner
from streams.kafka.bulk import partition_for

PARTITIONS = [0, 1, 2, 3]
KEYS = [f"ORD-{n}".encode() for n in range(200)]


def test_it_places_keys_by_crc32_and_mostly_off_their_murmur2_partition() -> None:
    placed = [crc32_partitioner(key, PARTITIONS, PARTITIONS) for key in KEYS]
    assert placed == [zlib.crc32(key) % 4 for key in KEYS]
    off = sum(p != partition_for(key, 4) for p, key in zip(placed, KEYS, strict=True))
    assert off > len(KEYS) // 2  # about three in four
