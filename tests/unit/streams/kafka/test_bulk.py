"""Unit tests of flexbridge's murmur2 and the partitioner of its producers (streams/kafka/bulk.py)."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from core.settings import KafkaSettings
from streams.kafka.bulk import key_partitioner, murmur2
from streams.kafka.clients import make_producer


@given(st.binary(max_size=300))
def test_murmur2_is_aiokafkas(key: bytes) -> None:
    assert murmur2(key) == aiokafka_murmur2(key)


@given(st.binary(max_size=120), st.integers(min_value=1, max_value=64))
def test_a_keyed_record_lands_where_aiokafkas_default_partitioner_puts_it(key: bytes, count: int) -> None:
    partitions = list(range(count))
    assert key_partitioner(key, partitions, partitions) == DefaultPartitioner()(key, partitions, partitions)


def test_a_record_without_a_key_goes_to_an_available_partition() -> None:
    assert {key_partitioner(None, [0, 1, 2, 3], [2]) for _ in range(20)} == {2}
    assert {key_partitioner(None, [5], []) for _ in range(5)} == {5}


async def test_flexbridge_producers_partition_with_it() -> None:
    producer = make_producer(KafkaSettings())  # never started: nothing is sent
    try:
        assert producer._partitioner is key_partitioner
    finally:
        await producer.stop()
