"""Approvals/s from ``payments.approved`` to an answered ``/v1/transmit``, Flex answering in 50 ms.

Baselines in the same run: (a) a naive consumer (one event at a time: consume, POST, commit);
(b) a bare httpx loop posting the same bodies at the same concurrency, no Kafka, through one pool
of 256 connections; (c) the ceiling: the same loop through the client setup flexbridge uses, the
sharded pools of consumers/flex/pool.py (one pool of that size costs httpcore more per request
than Kafka costs flexbridge, so (b) is no ceiling). flexbridge and (c) take turns over
:data:`ROUNDS` rounds, each with approvals of its own, so a change in the machine's load meanwhile
hits both alike (run one after the other, their ratio ranged 0.76-1.59x over two runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer

from bench import targets
from bench.common import Figure, cpu_time, flex_token, produce_all, ratio, until
from consumers.flex.pool import ShardedTransport
from consumers.flows import Defaults, transmit_body
from core.settings import FlexSettings
from schemas.events import validate_payment_event
from streams.local.stack import DEV_MID, LocalStack, RunningWorker, metric_total
from streams.local.traffic import make_event

__all__ = ["approvals", "bench_transmit"]

LATENCY_MS = 50
CONCURRENCY = 256  # flexbridge's default FLEXBRIDGE_PIPELINE__MAX_IN_FLIGHT
CONNECTIONS = FlexSettings().max_connections  # flexbridge's default FLEXBRIDGE_FLEX__MAX_CONNECTIONS
ROUNDS = 3  # turns of flexbridge and the sharded loop (c)


def approvals(count: int, seed: int) -> list[tuple[bytes, bytes]]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        order = f"ORD-B{seed}-{i:07d}"
        out.append((order.encode(), orjson.dumps(make_event("approval", order, rng))))
    return out


def _body(value: bytes) -> dict[str, Any]:
    return transmit_body(validate_payment_event(orjson.loads(value)), Defaults(DEV_MID, None, 14))


def _one_pool() -> httpx.AsyncHTTPTransport:
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    return httpx.AsyncHTTPTransport(limits=limits)


@contextlib.asynccontextmanager
async def _bare_client(
    base_url: str, transport: httpx.AsyncBaseTransport
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    """A client for the bare loops (b) and (c), and its bearer header."""
    async with httpx.AsyncClient(base_url=base_url, transport=transport, timeout=30) as http:
        yield http, {"Authorization": f"Bearer {await flex_token(http)}"}


async def _posting(
    http: httpx.AsyncClient, headers: dict[str, str], events: list[tuple[bytes, bytes]]
) -> float:
    """Seconds for ``CONCURRENCY`` lanes to post the events' bodies."""
    queue = iter([_body(v) for _, v in events])

    async def lane() -> None:
        for body in queue:
            (await http.post("transmit", json=body, headers=headers)).raise_for_status()

    started = time.monotonic()
    await asyncio.gather(*(lane() for _ in range(CONCURRENCY)))
    return time.monotonic() - started


async def _naive(stack: LocalStack, topic: str, count: int) -> float:
    await produce_all(stack.bootstrap, topic, approvals(count, seed=2))
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=stack.bootstrap,
        group_id="bench-naive",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
            headers = {"Authorization": f"Bearer {await flex_token(http)}"}
            started = time.monotonic()
            for _ in range(count):
                record = await consumer.getone()
                answer = await http.post("transmit", json=_body(record.value or b""), headers=headers)
                answer.raise_for_status()
                await consumer.commit()
            return count / (time.monotonic() - started)
    finally:
        await consumer.stop()


async def _flexbridge(
    stack: LocalStack, worker: RunningWorker, topic: str, events: list[tuple[bytes, bytes]]
) -> tuple[float, float]:
    """Seconds from the first produce until the worker has transmitted every one of ``events``, and
    the worker's CPU seconds meanwhile."""
    done = len(events) + await metric_total(worker.url, "flexbridge_events_out_total", topic=topic)
    started, cpu = time.monotonic(), cpu_time(worker.child.proc.pid)
    await produce_all(stack.bootstrap, topic, events)

    async def finished() -> bool:
        return await metric_total(worker.url, "flexbridge_events_out_total", topic=topic) >= done

    ended = await until(finished, 300, f"{len(events)} approvals transmitted", every=0.05)
    return ended - started, cpu_time(worker.child.proc.pid) - cpu


async def _in_turns(
    stack: LocalStack, worker: RunningWorker, topic: str, count: int
) -> tuple[float, float, float]:
    """Approvals/s of flexbridge and of the sharded loop (c), over :data:`ROUNDS` rounds in turn, and
    the worker's CPU ms per approval over its rounds."""
    per_round = count // ROUNDS
    ours = sharded = cpu = 0.0
    async with _bare_client(stack.base_url, ShardedTransport(CONNECTIONS)) as (http, headers):
        for r in range(ROUNDS):
            sharded += await _posting(http, headers, approvals(per_round, seed=40 + r))
            seconds, used = await _flexbridge(stack, worker, topic, approvals(per_round, seed=30 + r))
            ours, cpu = ours + seconds, cpu + used
    done = per_round * ROUNDS
    return done / ours, done / sharded, cpu / done * 1000


async def bench_transmit(stack: LocalStack, worker: RunningWorker, topic: str, count: int) -> list[Figure]:
    few = max(CONCURRENCY, count // 4)
    async with httpx.AsyncClient(base_url=stack.sandbox_root, timeout=10) as http:
        await http.post("_sandbox/faults", json={"latencyMs": LATENCY_MS, "paths": ["/v1/transmit"]})
        try:
            # context only, and the slowest: a quarter of the approvals gives its steady rate
            async with _bare_client(stack.base_url, _one_pool()) as (one_pool, headers):
                bare = few / await _posting(one_pool, headers, approvals(few, seed=1))
            naive = await _naive(stack, "bench.naive", max(40, count // 50))
            ours, sharded, cpu_ms = await _in_turns(stack, worker, topic, count)
        finally:
            await http.delete("_sandbox/faults")
    return [
        Figure(
            "transmit",
            "flexbridge",
            ours,
            "events/s",
            note=f"{count} approvals in {ROUNDS} rounds, in turn with (c), {LATENCY_MS} ms Flex",
        ),
        Figure("transmit", "worker CPU per approval", cpu_ms, "ms CPU", note="over flexbridge's rounds"),
        Figure("transmit", "naive consumer (a)", naive, "events/s"),
        Figure(
            "transmit",
            f"bare httpx loop, one pool of {CONCURRENCY} (b)",
            bare,
            "events/s",
            note=f"{few} approvals",
        ),
        Figure("transmit", f"bare httpx loop, {CONNECTIONS} in pools of 4 (c)", sharded, "events/s"),
        Figure("transmit", "flexbridge / naive", ratio(ours, naive), "x", target=targets.TRANSMIT_VS_NAIVE),
        Figure("transmit", "flexbridge / one-pool loop", ratio(ours, bare), "x"),
        Figure(
            "transmit",
            "flexbridge / sharded loop",
            ratio(ours, sharded),
            "x",
            target=targets.TRANSMIT_VS_SHARDED_LOOP,
        ),
    ]
