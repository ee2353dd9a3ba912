"""Latency from a produce on ``payments.declined`` to its OrderStatus on ``orders.status``, at two load
points (100 and 500 declines/s), minus the sandbox's own service time (a bare httpx client timing the
same calls at the same rate in the same run): p50, p90 and p99 of each."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench import targets
from bench.common import Figure, flex_token, percentile
from consumers.flex.pool import ShardedTransport
from consumers.flows import Defaults, evaluate_body
from core.settings import FlexSettings
from schemas.events import validate_payment_event
from streams.local.stack import DEV_MID, LocalStack
from streams.local.traffic import make_event

__all__ = ["PERCENTILES", "RATES", "SATURATED", "bench_evaluate", "latency_figures"]

RATES = (100, 500)  # declines per second: the load points
PERCENTILES = (50, 90, 99)
CONNECTIONS = FlexSettings().max_connections
SATURATED = (
    "below zero: the sandbox fell behind the bare client at this rate, so this says nothing of flexbridge"
)


def _declines(count: int, seed: int) -> list[tuple[str, bytes, bytes]]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        order = f"ORD-E{seed}-{i:06d}"
        event = make_event("cit-approved", order, rng)
        assert isinstance(event, dict)
        out.append((str(event["eventId"]), order.encode(), orjson.dumps(event)))
    return out


@contextlib.contextmanager
def _quiet_collector() -> Iterator[None]:
    """While a load point is timed, this process's own collector leaves the heap it already has alone
    (``gc.freeze``): a full collection of the whole benchmark's heap held this loop for up to 1.4 s,
    and every reply read meanwhile would have counted it as flexbridge's (or the sandbox's) latency."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def _paced(rate: int, count: int, send: Callable[[int], Awaitable[None]]) -> None:
    started = time.monotonic()
    for i in range(count):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await send(i)


async def _sandbox_service_times(base_url: str, rate: int, count: int) -> list[float]:
    bodies = [
        evaluate_body(validate_payment_event(orjson.loads(v)), Defaults(DEV_MID, None, 14))
        for _, _, v in _declines(count, seed=8 + rate)
    ]
    times: list[float] = []
    # flexbridge's Flex client setup (its connections, in sharded pools): the sandbox's time, not httpcore's
    transport = ShardedTransport(CONNECTIONS)
    async with httpx.AsyncClient(
        base_url=base_url, transport=transport, timeout=httpx.Timeout(30, pool=None)
    ) as http:
        headers = {"Authorization": f"Bearer {await flex_token(http)}"}
        calls = []

        async def call(body: dict[str, object]) -> None:
            body = {**body, "idempotencyKey": str(uuid.uuid4())}
            t0 = time.monotonic()
            (await http.post("evaluate", json=body, headers=headers)).raise_for_status()
            times.append(time.monotonic() - t0)

        async def send(i: int) -> None:
            calls.append(asyncio.create_task(call(bodies[i])))

        await _paced(rate, count, send)
        await asyncio.gather(*calls)
    return times


async def _end_to_end(stack: LocalStack, topics: dict[str, str], rate: int, count: int) -> list[float]:
    events = _declines(count, seed=9 + rate)
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

        await _paced(rate, count, send)
        await asyncio.wait_for(reader, 120)
    finally:
        await producer.stop()
        await consumer.stop()
    return [got[e] - sent[e] for e in got]


def latency_figures(rate: int, e2e: list[float], service: list[float], note: str = "") -> list[Figure]:
    """End to end, the sandbox's service time and their difference (added) at each percentile, in ms,
    from the seconds measured at ``rate``; the added p99 carries the load point's target, if any."""
    ms = 1000.0
    figures: list[Figure] = []
    added: list[Figure] = []
    for q in PERCENTILES:
        ours, sandbox = percentile(e2e, q) * ms, percentile(service, q) * ms
        figures.append(Figure("evaluate", f"end to end p{q} at {rate}/s", ours, "ms"))
        figures.append(Figure("evaluate", f"sandbox service p{q} at {rate}/s (bare httpx)", sandbox, "ms"))
        added.append(Figure("evaluate", f"added p{q} at {rate}/s", ours - sandbox, "ms"))
    added[-1].target, added[-1].at_most = targets.EVALUATE_ADDED_P99_MS.get(rate), True
    if added[-1].value < 0:
        added[-1].note = SATURATED
    figures[0].note = note
    return figures + added


async def bench_evaluate(
    stack: LocalStack, topics: dict[str, str], seconds: int, cpu_hog: bool = False
) -> list[Figure]:
    """Both load points, each ``seconds`` long: the sandbox's service times, then end to end."""
    figures: list[Figure] = []
    for rate in RATES:
        count = rate * seconds
        with _quiet_collector():
            service = await _sandbox_service_times(stack.base_url, rate, count)
        with _quiet_collector():
            e2e = await _end_to_end(stack, topics, rate, count)
        hog = ", CPU hog on the other core" if cpu_hog else ""
        figures += latency_figures(rate, e2e, service, note=f"{count} declines at {rate}/s{hog}")
    return figures
