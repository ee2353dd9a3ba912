"""Records whose dead letter Kafka cannot take as it is: a tombstone without a key (no Kafka client
sends a record with neither), and a record too large for the DLQ once its dlq-* headers are added.
Each still becomes a dead letter, and its partition moves on: the records after it are processed
and the pipeline's offset is committed past it. The operator verbs read such dead letters too."""

from __future__ import annotations

import asyncio
from typing import Any

import confluent_kafka
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from tests.conftest import Stack
from tests.flows import ready
from tests.integration.runtime.test_commands import decline
from tests.support import read_all, run_flexbridge, values, wait_for

pytestmark = pytest.mark.integration

BIG = 1_100_000  # bytes: more than a producer sends by default (max.request.size, 1 MiB)


def _produce(bootstrap: str, topic: str, records: list[dict[str, Any]]) -> None:
    """librdkafka, as most processors produce; every record to partition 0, in this order."""
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "message.max.bytes": 2 * BIG})
    for record in records:
        producer.produce(topic, partition=0, **record)
    assert producer.flush(30) == 0


async def _committed(stack: Stack, topic: str) -> int | None:
    group = stack.env["FLEXBRIDGE_KAFKA__GROUP_ID"]
    reader = AIOKafkaConsumer(bootstrap_servers=stack.bootstrap, group_id=group, enable_auto_commit=False)
    await reader.start()
    try:
        return await reader.committed(TopicPartition(topic, 0))
    finally:
        await reader.stop()


async def test_a_keyless_tombstone_and_an_oversized_record_are_dead_lettered_and_passed(stack: Stack) -> None:
    await ready(stack.worker())
    topic = stack.topics["declined"]
    after = decline("cit-declined", "ORD-AFTER-EDGES", 1999)
    records = [
        {"key": None, "value": None, "headers": [("h2", None)]},  # a tombstone without a key
        {"key": b"ORD-BIG", "value": b'{"eventId": "big", "pad": "' + b"x" * BIG + b'"'},  # not JSON
        {"key": b"ORD-AFTER-EDGES", "value": orjson.dumps(after)},
    ]
    await asyncio.to_thread(_produce, stack.bootstrap, topic, records)

    async def done() -> list[Any] | None:
        dlq = await read_all(stack.bootstrap, stack.topics["dlq"])
        ours = [r for r in dlq if dict(r.headers).get("dlq-source-topic") == topic.encode()]
        statuses = values(await read_all(stack.bootstrap, stack.topics["status"]))
        answered = any(s["orderId"] == "ORD-AFTER-EDGES" for s in statuses)
        return ours if len(ours) == 2 and answered else None

    found = await wait_for(done, 60, "both dead letters and the next record's status")
    tombstone, big = sorted(found, key=_offset)
    assert tombstone.key == b"" and tombstone.value is None
    assert ("h2", None) in tombstone.headers and dict(tombstone.headers)["dlq-reason"] == b"schema"
    headers = dict(big.headers)
    assert big.key == b"ORD-BIG" and big.value is None and headers["dlq-reason"] == b"schema"
    assert b"too large for" in headers["dlq-omitted"]
    assert _offset(big) == _offset(tombstone) + 1

    async def passed() -> int | None:
        offset = await _committed(stack, topic)
        return offset if offset is not None and offset >= _offset(tombstone) + 3 else None

    await wait_for(passed, 30, "the pipeline's offset committed past both")

    code, text, err = await run_flexbridge(stack.env, "dlq", "list", "--json")
    assert code == 0, err
    assert orjson.loads(text)["total"] == 2
    position = f"{tombstone.partition}:{tombstone.offset}"
    code, text, err = await run_flexbridge(stack.env, "dlq", "show", position)
    assert code == 0 and '"h2": ""' in text, err
    code, text, err = await run_flexbridge(stack.env, "dlq", "redrive", "--json")
    assert code == 0, err
    totals = orjson.loads(text)["totals"]
    assert totals["omitted"] == 1 and totals["toSend"] == 1  # the tombstone only: the big one has no value


def _offset(record: Any) -> int:
    return int(dict(record.headers)["dlq-source-offset"])
