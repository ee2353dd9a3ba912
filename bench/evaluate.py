"""Latency from a produce on ``payments.declined`` to its OrderStatus on ``orders.status`` at 100/s,
minus the sandbox's own service time (a bare httpx client timing the same calls in the same run)."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.common import Figure, flex_token, percentile
from consumers.flows import Defaults, evaluate_body
from schemas.events import validate_payment_event
from streams.local.stack import DEV_MID, LocalStack
from streams.local.traffic import make_event

__all__ = ["bench_evaluate"]

RATE = 100  # events per second


def _declines(count: int, seed: int) -> list[tuple[str, bytes, bytes]]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        order = f"ORD-E{seed}-{i:06d}"
        event = make_event("cit-approved", order, rng)
        assert isinstance(event, dict)
        out.append((str(event["eventId"]), order.encode(), orjson.dumps(event)))
    return out


async def _paced(count: int, send: Callable[[int], Awaitable[None]]) -> None:
    started = time.monotonic()
    for i in range(count):
        delay = started + i / RATE - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await send(i)


async def _sandbox_service_times(base_url: str, count: int) -> list[float]:
    bodies = [
        evaluate_body(validate_payment_event(orjson.loads(v)), Defaults(DEV_MID, None, 14))
        for _, _, v in _declines(count, seed=8)
    ]
    times: list[float] = []
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        headers = {"Authorization": f"Bearer {await flex_token(http)}"}
        calls = []

        async def call(body: dict[str, object]) -> None:
            body = {**body, "idempotencyKey": str(uuid.uuid4())}
            t0 = time.monotonic()
            (await http.post("evaluate", json=body, headers=headers)).raise_for_status()
            times.append(time.monotonic() - t0)

        async def send(i: int) -> None:
            calls.append(asyncio.create_task(call(bodies[i])))

        await _paced(count, send)
        await asyncio.gather(*calls)
    return times


async def _end_to_end(stack: LocalStack, topics: dict[str, str], count: int) -> list[float]:
    events = _declines(count, seed=9)
    sent: dict[str, float] = {}
    got: dict[str, float] = {}
    consumer = AIOKafkaConsumer(
        topics["status"],
        bootstrap_servers=stack.bootstrap,
        group_id=None,
        auto_offset_reset="latest",
        fetch_max_wait_ms=5,
    )
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, linger_ms=0)
    await consumer.start()
    await producer.start()
    try:
        await consumer.seek_to_end()

        async def read() -> None:
            while len(got) < count:
                for records in (await consumer.getmany(timeout_ms=50)).values():
                    now = time.monotonic()
                    for record in records:
                        event_id = orjson.loads(record.value or b"{}").get("eventId")
                        if event_id in sent:
                            got.setdefault(event_id, now)

        reader = asyncio.create_task(read())

        async def send(i: int) -> None:
            event_id, key, value = events[i]
            sent[event_id] = time.monotonic()
            await producer.send(topics["declined"], value, key)

        await _paced(count, send)
        await asyncio.wait_for(reader, 120)
    finally:
        await producer.stop()
        await consumer.stop()
    return [got[e] - sent[e] for e in got]


async def bench_evaluate(stack: LocalStack, topics: dict[str, str], seconds: int) -> list[Figure]:
    count = RATE * seconds
    service = await _sandbox_service_times(stack.base_url, count)
    e2e = await _end_to_end(stack, topics, count)
    ms = 1000.0
    p50, p99 = percentile(e2e, 50) * ms, percentile(e2e, 99) * ms
    s50, s99 = percentile(service, 50) * ms, percentile(service, 99) * ms
    note = f"{count} declines at {RATE}/s"
    return [
        Figure("evaluate", "end to end p50", p50, "ms", note=note),
        Figure("evaluate", "end to end p99", p99, "ms"),
        Figure("evaluate", "sandbox service p50 (bare httpx)", s50, "ms"),
        Figure("evaluate", "sandbox service p99 (bare httpx)", s99, "ms"),
        Figure("evaluate", "added p50", p50 - s50, "ms"),
        Figure("evaluate", "added p99", p99 - s99, "ms", target=20, at_most=True),
    ]
