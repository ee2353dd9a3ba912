"""The fault run's workload and observations: events at a steady rate, commands against the orders
they created, and what the sandbox and the output topics show afterwards."""

from __future__ import annotations

import asyncio
import time
import zlib

import httpx
from aiokafka import AIOKafkaProducer

from bench.chaos_checks import Lifecycle
from streams.kafka.clients import read_topic
from streams.local.demo_orders import plan_commands
from streams.local.reconciliation import Observed, read_observed
from streams.local.traffic import Planned
from streams.runtime.webhooks import DEDUPE_HEADER

__all__ = ["COMMAND_ROUNDS", "Topics", "crc32_partitioner", "observe", "publish_commands", "publish_events"]

Topics = dict[str, str]
# When, as a share of the run, a round of commands goes out, and the share of the events it picks
# its orders from (disjoint, so each round targets other orders).
COMMAND_ROUNDS = ((0.35, 0.0, 0.3), (0.7, 0.3, 0.6))
# Approved and capture-required orders each round commands: about 37 commands a round, sent at once,
# so that a worker has commands of many orders in flight when it is killed or rebalanced.
COMMAND_ORDERS = 12


def crc32_partitioner(key: bytes, all_partitions: list[int], available: list[int]) -> int:
    """librdkafka's default for a keyed record (``consistent_random``: CRC32 of the key), as a
    downstream service on confluent-kafka, Go or .NET produces: most commands land off their order's
    partition (murmur2) and are forwarded (streams/runtime/commands.py)."""
    return all_partitions[zlib.crc32(key) % len(all_partitions)]


async def _send(producer: AIOKafkaProducer, topics: Topics, planned: list[Planned]) -> None:
    sent = [await producer.send(topics[p.topic], p.value, p.key.encode()) for p in planned]
    await asyncio.gather(*sent)


async def publish_events(bootstrap: str, planned: list[Planned], topics: Topics, until: float) -> None:
    """A steady rate: the events spread over the run, through one producer."""
    per_tick = max(1, len(planned) // max(1, int((until - time.monotonic()) * 4)))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        for start in range(0, len(planned), per_tick):
            await _send(producer, topics, planned[start : start + per_tick])
            await asyncio.sleep(0.25)
    finally:
        await producer.stop()


async def publish_commands(
    bootstrap: str,
    http: httpx.AsyncClient,
    planned: list[Planned],
    topics: Topics,
    started: float,
    until: float,
) -> list[Planned]:
    """Rounds of refunds, captures and cancels (one refused, one sent twice, one malformed) against
    orders that already have their Flex order, while the faults go on; returns what was published."""
    out: list[Planned] = []
    producers = [  # the first round partitioned as Kafka's default does, the second as librdkafka's
        AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5),
        AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, partitioner=crc32_partitioner),
    ]
    for producer in producers:
        await producer.start()
    try:
        for producer, (at, first, last) in zip(producers, COMMAND_ROUNDS, strict=True):
            await asyncio.sleep(max(0.0, started + at * (until - started) - time.monotonic()))
            seen = await observe_events(bootstrap, http, topics)
            pool = planned[int(first * len(planned)) : int(last * len(planned))]
            commands = plan_commands(pool, seen.statuses, orders=COMMAND_ORDERS)
            await _send(producer, topics, commands)
            out += commands
    finally:
        for producer in producers:
            await producer.stop()
    return out


async def observe_events(bootstrap: str, http: httpx.AsyncClient, topics: Topics) -> Observed:
    journal = (await http.get("_sandbox/requests")).json()["requests"]
    return await read_observed(bootstrap, topics["status"], topics["dlq"], journal)


async def observe(
    bootstrap: str, http: httpx.AsyncClient, topics: Topics, commands: list[Planned]
) -> tuple[Observed, Lifecycle]:
    seen = await observe_events(bootstrap, http, topics)
    published = [
        value.decode(errors="replace")
        for record in await read_topic(bootstrap, topics["webhooks"])
        for name, value in record.headers or ()
        if name == DEDUPE_HEADER
    ]
    lifecycle = Lifecycle(
        commands=commands,
        deliveries=(await http.get("_sandbox/webhooks")).json()["webhooks"],
        published_webhooks=published,
        batches=(await http.get("_sandbox/batches")).json()["batches"],
        orders=(await http.get("_sandbox/orders")).json()["orders"],
    )
    return seen, lifecycle
