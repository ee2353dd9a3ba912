"""Compressed topics: records an upstream producer compressed with gzip, snappy, lz4 or zstd flow
through every reader — the keyed pipeline, the Faust command agent and the replay scanner — whether
a librdkafka client (confluent-kafka, as most processors use) or aiokafka wrote them."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import confluent_kafka
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from streams.local.traffic import Planned, plan
from tests.conftest import Stack
from tests.flows import ready, settle
from tests.integration.runtime.test_commands import answers, command, decline
from tests.support import run_flexbridge

pytestmark = pytest.mark.integration

CODECS = ("gzip", "snappy", "lz4", "zstd")


def librdkafka_produce(bootstrap: str, topic: str, items: list[tuple[str, Any]], codec: str) -> None:
    producer = confluent_kafka.Producer(
        {
            "bootstrap.servers": bootstrap,
            "compression.type": codec,
            "enable.idempotence": False,
            "linger.ms": 5,
        }
    )
    for key, value in items:
        producer.produce(
            topic, key=key.encode(), value=value if isinstance(value, bytes) else orjson.dumps(value)
        )
    assert producer.flush(30) == 0, f"{codec}: records left unsent"


async def aiokafka_produce(bootstrap: str, topic: str, items: list[tuple[str, Any]], codec: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, compression_type=codec, enable_idempotence=False)
    await producer.start()
    try:
        for key, value in items:
            raw = value if isinstance(value, bytes) else orjson.dumps(value)
            await producer.send(topic, raw, key.encode())
        await producer.flush()
    finally:
        await producer.stop()


async def publish_compressed(stack: Stack, planned: list[Planned], codec: str, client: str) -> None:
    for role in ("approved", "declined"):
        items: list[tuple[str, Any]] = [(p.key, p.value) for p in planned if p.topic == role]
        if client == "librdkafka":
            await asyncio.to_thread(librdkafka_produce, stack.bootstrap, stack.topics[role], items, codec)
        else:
            await aiokafka_produce(stack.bootstrap, stack.topics[role], items, codec)


async def test_every_codec_from_librdkafka_and_aiokafka_reaches_its_outcome(stack: Stack) -> None:
    worker = stack.worker(FLEXBRIDGE_KAFKA__COMPRESSION_TYPE="zstd")  # its own output compressed too
    await ready(worker)
    everything: list[Planned] = []
    for n, codec in enumerate(CODECS):
        for m, client in enumerate(("librdkafka", "aiokafka")):
            planned = plan(24, seed=100 + 10 * n + m)
            await publish_compressed(stack, planned, codec, client)
            everything += planned
    result = await settle(stack, everything, timeout=90)
    assert result.ok, (result.rows, result.examples)
    assert worker.process.proc.poll() is None


async def test_compressed_commands_reach_the_faust_agent(stack: Stack) -> None:
    worker = stack.worker(FLEXBRIDGE_KAFKA__COMPRESSION_TYPE="lz4")  # Faust's producer and table too
    await ready(worker)
    orders = {codec: f"ORD-CODEC-{codec}-{random.randrange(10**6)}" for codec in CODECS}
    declines = [(order_id, decline("cit-approved", order_id, 2000)) for order_id in orders.values()]
    await aiokafka_produce(stack.bootstrap, stack.topics["declined"], declines, "lz4")
    sent = []
    for codec, order_id in orders.items():
        cmd = command("refund", order_id, amount=500, currency="USD")
        await asyncio.to_thread(
            librdkafka_produce, stack.bootstrap, stack.topics["commands"], [(order_id, cmd)], codec
        )
        sent.append(cmd["commandId"])
    got = await answers(stack, *sent)
    assert all(len(got[c]) == 1 for c in sent), got


async def test_replay_plans_a_compressed_window(stack: Stack) -> None:
    for codec in CODECS:
        items = [(f"ORD-RP-{codec}-{i}", {"eventId": f"evt-{codec}-{i}"}) for i in range(5)]
        await asyncio.to_thread(librdkafka_produce, stack.bootstrap, stack.topics["approved"], items, codec)
    code, out, err = await run_flexbridge(
        stack.env, "replay", "--json", "--topic", stack.topics["approved"], "--last", "1h"
    )
    assert code == 0, err
    assert orjson.loads(out)["totals"]["records"] == len(CODECS) * 5


async def test_the_producers_compress_as_configured() -> None:
    from core.settings import KafkaSettings
    from streams.kafka.clients import make_producer

    for setting, expected in (("snappy", "snappy"), ("none", None)):
        producer = make_producer(KafkaSettings(compression_type=setting))
        try:
            assert producer._compression_type == expected
        finally:
            await producer.stop()
