"""Replay and redrive keep an order's partition: records a librdkafka producer wrote (its default
partitioner hashes keys with CRC32, where aiokafka and Java use murmur2) are re-injected into the
partition they came from, so an order's events stay in one partition, in order."""

from __future__ import annotations

import asyncio
import zlib
from typing import Any

import confluent_kafka
import orjson
import pytest
from aiokafka.partitioner import DefaultPartitioner

from core.settings import KafkaSettings
from streams.kafka.topics import ensure_topics
from tests.conftest import Stack
from tests.flows import ready
from tests.support import read_all, run_flexbridge, wait_for

pytestmark = pytest.mark.integration

PARTITIONS = 4  # the test stack's FLEXBRIDGE_KAFKA__TOPIC_PARTITIONS


def keys_the_partitioners_disagree_on(count: int) -> list[str]:
    murmur = DefaultPartitioner()
    all_partitions = list(range(PARTITIONS))
    found = []
    for n in range(10_000):
        key = f"ORD-CRC-{n}"
        crc = zlib.crc32(key.encode()) % PARTITIONS
        if murmur(key.encode(), all_partitions, all_partitions) != crc:
            found.append(key)
        if len(found) == count:
            return found
    raise AssertionError("no such keys")


def librdkafka_produce(bootstrap: str, topic: str, items: list[tuple[str, bytes]]) -> None:
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "enable.idempotence": False})
    for key, value in items:
        producer.produce(topic, key=key.encode(), value=value)
    assert producer.flush(30) == 0


async def cli(stack: Stack, *args: str) -> dict[str, Any]:
    code, out, err = await run_flexbridge(stack.env, *args, "--json")
    assert code == 0, err
    result: dict[str, Any] = orjson.loads(out)
    return result


def origin_partition(record: Any) -> int:
    return int(dict(record.headers)["replay-of"].decode().rsplit("/", 2)[1])


async def test_a_replay_lands_on_the_partitions_a_crc32_producer_chose(stack: Stack) -> None:
    topic = stack.topics["approved"]
    keys = keys_the_partitioners_disagree_on(12)
    items = [(key, orjson.dumps({"eventId": f"evt-{key}", "orderId": key})) for key in keys]
    await ensure_topics(
        KafkaSettings(bootstrap_servers=stack.bootstrap, topic_partitions=PARTITIONS), [topic]
    )
    await asyncio.to_thread(librdkafka_produce, stack.bootstrap, topic, items)
    originals = {r.key.decode(): r.partition for r in await read_all(stack.bootstrap, topic) if r.key}
    assert all(originals[k] == zlib.crc32(k.encode()) % PARTITIONS for k in keys)  # CRC32 really chose

    done = await cli(stack, "replay", "--topic", topic, "--last", "1h", "--replay-id", "crc", "--execute")
    assert done["sent"] == len(keys)
    sent = [r for r in await read_all(stack.bootstrap, topic) if dict(r.headers).get("replay-id") == b"crc"]
    assert len(sent) == len(keys)
    assert all(r.partition == origin_partition(r) == originals[r.key.decode()] for r in sent)


async def test_a_redrive_lands_on_the_partition_the_dead_letter_came_from(stack: Stack) -> None:
    worker = stack.worker()
    await ready(worker)
    topic = stack.topics["declined"]
    keys = keys_the_partitioners_disagree_on(6)
    await asyncio.to_thread(librdkafka_produce, stack.bootstrap, topic, [(k, b"{not json") for k in keys])

    async def dead_letters() -> list[Any] | None:
        found = [r for r in await read_all(stack.bootstrap, stack.topics["dlq"]) if r.key]
        return found if len({r.key for r in found} & {k.encode() for k in keys}) == len(keys) else None

    letters = await wait_for(dead_letters, 60, "the malformed records to be dead-lettered")
    sources = {r.key.decode(): int(dict(r.headers)["dlq-source-partition"]) for r in letters}
    done = await cli(stack, "dlq", "redrive", "--reason", "schema", "--execute")
    assert done["sent"] >= len(keys)
    redriven = [r for r in await read_all(stack.bootstrap, topic) if dict(r.headers).get("replay-of")]
    mine = [r for r in redriven if r.key and r.key.decode() in sources]
    assert len(mine) == len(keys)
    assert all(r.partition == sources[r.key.decode()] == zlib.crc32(r.key) % PARTITIONS for r in mine)
