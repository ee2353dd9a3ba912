"""Latency from a produce on ``payments.declined`` to its OrderStatus on ``orders.status``, at two load
points (100 and 500 declines/s), and what flexbridge adds to it: for each event, its end-to-end time
minus the sandbox's own service time of that event's /evaluate call (``durationMs`` in the sandbox's
journal, found by the call's idempotency key, ``event_key(eventId)``). p50, p90 and p99 of each. Two
baselines from the same run give context: a bare httpx client timing the same calls at the same rate,
and the same declines through a bare Kafka relay (bench/relay.py), the floor of the two Kafka hops.
The worker's CPU per decline at each load point, and the relay's, show how busy each one's event
loop is: at 500/s the declines queue for the worker's loop, so its CPU per decline drives the tail.
The embedded broker's CPU per decline over each run, and the p50 of the run's first and last fifth
(by send time), show how much of the tail is the broker's: its memory storage lists every batch of
a partition on each fetch, so its cost grows through a run as the topics fill (docs/benchmarks.md)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.common import Figure, cpu_time, flex_token
from bench.evaluate_figures import latency_figures, per_request
from bench.worker_metrics import WorkerView, snapshot
from consumers.flex.pool import ShardedTransport
from consumers.flows import Defaults, evaluate_body
from core.settings import FlexSettings
from schemas.events import validate_payment_event
from streams.local.procs import Child, free_port
from streams.local.stack import CLI, DEV_MID, LocalStack, RunningWorker
from streams.local.traffic import make_event

__all__ = ["RATES", "bench_evaluate"]

RATES = (100, 500)  # declines per second: the load points
CONNECTIONS = FlexSettings().max_connections


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


async def _end_to_end(stack: LocalStack, topics: dict[str, str], rate: int, count: int) -> dict[str, float]:
    """Seconds from each decline's produce to its first OrderStatus, by eventId."""
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
    return {e: got[e] - sent[e] for e in sent if e in got}  # in send order


async def _relay_end_to_end(
    stack: LocalStack, rate: int, count: int
) -> tuple[dict[str, float], float, float]:
    """:func:`_end_to_end` of the same declines through the bare Kafka relay, in a process of its own
    with the worker's Kafka settings, on topics of its own; the relay's and the broker's CPU seconds
    meanwhile."""
    names = {role: f"bench.relay.{rate}.{role}" for role in ("declined", "status", "ledger")}
    args = [*CLI[:1], "-m", "bench.relay", "--source", names["declined"], "--sink", names["status"]]
    args += ["--ledger", names["ledger"]]
    child = Child(f"relay-{rate}", args, stack.worker_env(free_port()), stack.workdir / f"relay-{rate}.log")
    try:
        await asyncio.to_thread(child.wait_line, r"^ready$", 60)
        before, broker = cpu_time(child.proc.pid), _broker_cpu(stack)
        with _quiet_collector():
            e2e = await _end_to_end(stack, names, rate, count)
        return e2e, cpu_time(child.proc.pid) - before, _broker_cpu(stack) - broker
    finally:
        await asyncio.to_thread(child.stop)


async def _journal_times(root: str, since: int) -> tuple[dict[str, float], int]:
    """The sandbox's service time (ms) of each /v1/evaluate call it journaled after ``since``, summed
    by idempotency key (a retried call spent each attempt's time there), and the last ``seq`` read."""
    async with httpx.AsyncClient(timeout=60) as http:
        params: dict[str, str | int] = {"path": "/v1/evaluate", "since": since}
        answer = await http.get(f"{root}_sandbox/requests", params=params)
    answer.raise_for_status()
    times: dict[str, float] = {}
    last = since
    for entry in orjson.loads(answer.content)["requests"]:
        last = max(last, entry["seq"])
        key, ms = entry["idempotencyKey"], entry.get("durationMs")
        if key is not None and ms is not None:
            times[key] = times.get(key, 0.0) + ms
    return times, last


def _broker_cpu(stack: LocalStack) -> float:
    """The embedded broker's CPU seconds so far (NaN once it is gone)."""
    pid = stack.broker.pid
    return math.nan if pid is None else cpu_time(pid)


async def bench_evaluate(
    stack: LocalStack, worker: RunningWorker, topics: dict[str, str], seconds: int, cpu_hog: bool = False
) -> list[Figure]:
    """Both load points, each ``seconds`` long: the bare client's calls, flexbridge's end to end
    (``worker``'s CPU meanwhile), the sandbox's journal of flexbridge's calls, then the bare relay's
    end to end. CPU is over each run, from the first produce to the last status read, idle polls
    included."""
    figures: list[Figure] = []
    _, last = await _journal_times(stack.sandbox_root, 0)
    for rate in RATES:
        count = rate * seconds
        with _quiet_collector():
            bare = await _sandbox_service_times(stack.base_url, rate, count)
        _, last = await _journal_times(stack.sandbox_root, last)
        histograms = await snapshot(worker.url)
        before, broker = cpu_time(worker.child.proc.pid), _broker_cpu(stack)
        with _quiet_collector():
            e2e = await _end_to_end(stack, topics, rate, count)
        worker_cpu, broker_cpu = cpu_time(worker.child.proc.pid) - before, _broker_cpu(stack) - broker
        own = await WorkerView.since(worker.url, histograms)
        service, last = await _journal_times(stack.sandbox_root, last)
        # the relay last: its records add to the broker's history
        relay, relay_cpu, relay_broker_cpu = await _relay_end_to_end(stack, rate, count)
        hog = ", CPU hog on the other core" if cpu_hog else ""
        note = f"{count} declines at {rate}/s{hog}; added: each event's end to end − its call's sandbox time"
        point = per_request(rate, e2e, service, bare, relay.values(), note)
        point.worker_cpu, point.relay_cpu = worker_cpu / count * 1000, relay_cpu / count * 1000
        point.broker_cpu, point.relay_broker_cpu = broker_cpu / count * 1000, relay_broker_cpu / count * 1000
        point.own = own
        figures += latency_figures(point)
    return figures
