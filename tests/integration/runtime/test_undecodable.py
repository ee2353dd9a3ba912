"""A record batch that cannot be decoded holds back its own partition only, and is named.

A raw produce request writes a batch the consumer cannot decode (its attributes name lz4 or gzip,
its body is neither) to partition 0 of ``payments.approved``, after two good records; the planned
traffic goes to the other partitions. Every planned event still gets its outcome, and
the log, the metric and ``/ready`` name the partition and the batch's offset.
"""

from __future__ import annotations

import re
import struct
import time
import zlib
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaClient, AIOKafkaProducer, TopicPartition
from aiokafka.protocol.produce import ProduceRequest
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.util import calc_crc32c

from streams.local.stack import metric_total
from streams.local.traffic import Planned, plan
from tests.conftest import Stack, Worker
from tests.flows import ready, settle
from tests.support import wait_for

pytestmark = pytest.mark.integration

_CODEC_BITS = 0x07
_HEADER = 61  # bytes of a v2 batch header; the (compressed) records follow
CODECS = {"gzip": 1, "lz4": 3, "zstd": 4}


def broken_batch(codec: int) -> bytes:
    """Three records in one v2 batch whose attributes name ``codec`` but whose body is not in it.

    The CRC is right (it covers the attributes and the body, from byte 21), so the broker stores the
    batch and the consumer fails only when it decompresses it, as with a producer's broken codec.
    """
    builder = DefaultRecordBatchBuilder(
        magic=2, compression_type=0, is_transactional=0, producer_id=-1, producer_epoch=-1,
        base_sequence=-1, batch_size=1 << 20,
    )  # fmt: skip
    now = int(time.time() * 1000)
    for i in range(3):
        builder.append(i, timestamp=now, key=f"ORD-BROKEN-{i}".encode(), value=b'{"x": 1}', headers=[])
    raw = builder.build()
    raw[22] = (raw[22] & ~_CODEC_BITS) | codec  # attributes: int16 at byte 21
    raw[_HEADER:] = bytes(range(7, 7 + len(raw) - _HEADER))  # a body no decompressor accepts
    struct.pack_into(">I", raw, 17, calc_crc32c(bytes(raw[21:])))
    return bytes(raw)


async def produce_raw(bootstrap: str, tp: TopicPartition, batch: bytes) -> None:
    """One produce request carrying ``batch`` as it is: no client-side check re-encodes it."""
    client = AIOKafkaClient(bootstrap_servers=bootstrap)
    await client.bootstrap()
    try:
        client.add_topic(tp.topic)
        await client.force_metadata_update()
        node = client.cluster.leader_for_partition(tp)
        request = ProduceRequest(None, 1, 30_000, [(tp.topic, [(tp.partition, batch)])])
        response = await client.send(node, request)
        errors = [part[1] for _, parts in response.topics for part in parts]
        assert errors == [0], errors
    finally:
        await client.close()


async def publish_around(stack: Stack, held: TopicPartition, planned: list[Planned]) -> None:
    """``planned`` on every partition but ``held`` (a key keeps its partition)."""
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        for p in planned:
            topic = stack.topics[p.topic]
            partition = None
            if topic == held.topic:
                partition = held.partition + 1 + zlib.crc32(p.key.encode()) % 3
            await producer.send(topic, p.value, p.key.encode(), partition=partition)
        await producer.flush()
    finally:
        await producer.stop()


async def stuck(url: str) -> dict[str, Any] | None:
    async with httpx.AsyncClient(timeout=5) as http:
        answer = await http.get(url + "/ready")
    body: dict[str, Any] = answer.json()
    return body if answer.status_code == 503 and body.get("undecodable") else None


@pytest.mark.parametrize("codec", ["lz4", "gzip"])
async def test_an_undecodable_batch_holds_only_its_partition_and_is_named(stack: Stack, codec: str) -> None:
    worker = stack.worker()
    await ready(worker)
    held = TopicPartition(stack.topics["approved"], 0)
    good = [p for p in plan(12, seed=5) if p.topic == "approved"][:2]
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, enable_idempotence=False)
    await producer.start()
    for p in good:  # offsets 0 and 1: the broken batch starts at offset 2
        await producer.send_and_wait(held.topic, p.value, p.key.encode(), partition=held.partition)
    await producer.stop()
    await produce_raw(stack.bootstrap, held, broken_batch(CODECS[codec]))
    planned = plan(60, seed=11)
    await publish_around(stack, held, planned)

    result = await settle(stack, planned, timeout=90)
    assert result.ok, (result.rows, result.examples)
    line = rf"pipeline: the record batch at {held.topic}/0 offset 2 cannot be decoded \(\w+"
    await wait_for(lambda: _matched(worker, line), 30, "the log line naming the batch")
    body = await wait_for(lambda: stuck(worker.url), 30, "/ready to name the held partition")
    assert [(h["topic"], h["partition"], h["offset"]) for h in body["undecodable"]] == [(held.topic, 0, 2)]
    labels = {"topic": held.topic, "partition": "0"}
    assert await metric_total(worker.url, "flexbridge_undecodable_batches_total", **labels) == 1
    assert await metric_total(worker.url, "flexbridge_partitions_held") == 1
    assert worker.process.proc.poll() is None


async def _matched(worker: Worker, pattern: str) -> bool:
    return re.search(pattern, worker.process.output()) is not None
