"""Verified webhooks/s acknowledged by ``POST /webhooks/flex`` (2xx only after Kafka has both records).

Baselines in the same run, each in its own process, driven by the same client at the same
concurrency: a bare aiohttp handler that reads the body and answers 200; and the same handler that
first produces the body to two topics of its own, each acknowledged in turn (keyed by its
``ExternalOrderId``, with the worker's producer settings), as the contract has the receiver do
before its 2xx: what those two Kafka records cost without verifying, deduplicating or folding. The
answer times (POST to the end of the answer, p50 and p99) of each show what the two Kafka
acknowledgements add to each delivery, and the client's own CPU per webhook shows how much of the
two cores the driving takes. Every delivery is distinct (its own ``OrderId``), signed with the
worker's subscriber key and a fresh nonce, so neither the dedupe nor the nonce check short-circuits
it; afterwards the records on ``flex.webhooks`` are counted to show each acknowledged webhook was
really published.

The bare handlers are ``python -m bench.bare_webhooks`` (bench/bare_webhooks.py). Each flexbridge
round lasts until the worker's order table has folded every status it published
(bench/folded.py), so that no round runs beside the trailing work of another.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from dataclasses import dataclass, field

import aiohttp
import orjson

from bench import targets
from bench.common import Figure, cpu_time, percentile, ratio
from bench.folded import Folded
from consumers.webhooks.signature import http_date, new_nonce, sign
from schemas.webhooks import STATUS_BY_EVENT
from streams.kafka.clients import read_topic
from streams.local.procs import Child, free_port
from streams.local.stack import CLI, LocalStack, RunningWorker
from streams.runtime.worker import order_changelog_topic

__all__ = ["SUBSCRIBER_KEY", "bench_webhooks", "deliveries"]

SUBSCRIBER_KEY = base64.b64encode(hashlib.sha512(b"flexbridge-bench-subscriber").digest()).decode()
CONCURRENCY = 64
WARMUP = 200
QS = (50, 99)  # the answer-time percentiles reported
EVENTS = tuple(STATUS_BY_EVENT)  # every one maps to a status: two records per webhook
KAFKA_TOPICS = ("bench.bare-webhooks.status", "bench.bare-webhooks.raw")  # the Kafka baseline's own

Delivery = tuple[bytes, dict[str, str]]


@dataclass(frozen=True, slots=True)
class Run:
    elapsed: float  # seconds from the first POST to the last answer
    accepted: int
    failed: int
    answer_ms: list[float]  # each delivery's answer time


def deliveries(count: int, host: str, tag: str) -> list[Delivery]:
    """``count`` distinct signed deliveries for ``host`` (each its own order and nonce)."""
    date = http_date()
    out: list[Delivery] = []
    for i in range(count):
        order = f"ORD-WH-{tag}-{i:07d}"
        body = orjson.dumps(
            {
                "Event": EVENTS[i % len(EVENTS)],
                "TimeStamp": "2026-11-24T10:00:00.123456Z",
                "EventData": None,
                "ExternalOrderId": order,
                "OrderId": f"fx-{order}",
                "ConfirmationId": "22ACD1D9",
                "IsTestMode": True,
                "IsResent": False,
            }
        )
        headers = sign(body, key_b64=SUBSCRIBER_KEY, host=host, date=date, nonce=new_nonce())
        out.append((body, headers | {"Content-Type": "text/plain; charset=utf-8"}))
    return out


async def _drive(url: str, items: list[Delivery], concurrency: int = CONCURRENCY) -> Run:
    """POST every delivery at ``concurrency`` in flight; counts the 2xx answers."""
    queue = iter(items)
    accepted = failed = 0
    answer_ms: list[float] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:

        async def lane() -> None:
            nonlocal accepted, failed
            for body, headers in queue:
                sent = time.perf_counter()
                async with http.post(url, data=body, headers=headers) as answer:
                    await answer.read()
                    answer_ms.append(1000 * (time.perf_counter() - sent))
                    if 200 <= answer.status < 300:
                        accepted += 1
                    else:
                        failed += 1

        started = time.monotonic()
        await asyncio.gather(*(lane() for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    return Run(elapsed, accepted, failed, answer_ms)


@dataclass(slots=True)
class Target:
    """One server under test: where to POST, and its totals over the rounds."""

    name: str
    label: str  # as the figures name it
    port: int
    pid: int
    beside: int | None = None  # another process whose CPU over this target's rounds is counted too
    folded: Folded | None = None  # the worker's: each round lasts until its order table has caught up
    elapsed: float = 0.0
    accepted: int = 0
    failed: int = 0
    cpu: float = 0.0
    beside_cpu: float = 0.0
    client_cpu: float = 0.0  # the benchmark's own: its aiohttp client driving the rounds
    answer_ms: list[float] = field(default_factory=list)
    expected: int = 0  # statuses the worker's order table should have folded by now (warm-up too)
    settled_cpu: float = 0.0  # the worker's CPU over its rounds until each one's folds were done
    catch_up: float = 0.0  # seconds, over the rounds, from a round's last answer to its last fold

    async def warm(self) -> None:
        """The warm-up deliveries, and (a worker) their folds, before any round is timed."""
        host = f"127.0.0.1:{self.port}"
        run = await _drive(f"http://{host}/webhooks/flex", deliveries(WARMUP, host, f"warm-{self.name}"))
        await self._settle(run)

    async def round(self, count: int, tag: str) -> None:
        host = f"127.0.0.1:{self.port}"
        items = deliveries(count, host, tag)
        before = cpu_time(self.pid)
        beside = cpu_time(self.beside) if self.beside is not None else 0.0
        client = time.process_time()
        run = await _drive(f"http://{host}/webhooks/flex", items)
        self.client_cpu += time.process_time() - client
        self.cpu += cpu_time(self.pid) - before
        if self.beside is not None:
            self.beside_cpu += cpu_time(self.beside) - beside
        self.elapsed += run.elapsed
        self.accepted += run.accepted
        self.failed += run.failed
        self.answer_ms += run.answer_ms
        self.catch_up += await self._settle(run)
        self.settled_cpu += cpu_time(self.pid) - before

    async def _settle(self, run: Run) -> float:
        """Wait until the worker has folded every status ``run`` published (each delivery is a new
        order: one changelog record each), so that no round runs beside another's trailing work;
        the seconds that took after the last answer."""
        if self.folded is None:
            return 0.0
        answered = time.monotonic()
        self.expected += run.accepted
        return await self.folded.reach(self.expected) - answered

    @property
    def rate(self) -> float:
        return self.accepted / self.elapsed if self.elapsed else 0.0


async def _compare(servers: list[Target], count: int, rounds: int) -> None:
    """Warm each up, then take rounds in turn, so a change in the machine's load hits all alike."""
    for target in servers:
        await target.warm()
    per_round = max(1, count // rounds)
    for r in range(rounds):
        for target in servers:
            await target.round(per_round, f"{target.name}-{r}")


def _serve(stack: LocalStack, name: str, port: int, *extra: str) -> Child:
    args = [*CLI[:1], "-m", "bench.bare_webhooks", "--port", str(port), *extra]
    return Child(name, args, stack.worker_env(free_port()), stack.workdir / f"{name}.log")


async def bench_webhooks(
    stack: LocalStack, worker: RunningWorker, topic: str, count: int, rounds: int = 4
) -> list[Figure]:
    """Needs a worker started with ``FLEXBRIDGE_WEBHOOK__SUBSCRIBER_KEY`` = :data:`SUBSCRIBER_KEY`."""
    port, kafka_port = free_port(), free_port()
    children = [
        _serve(stack, "bare-webhooks", port),
        _serve(stack, "bare-webhooks-kafka", kafka_port, "--kafka", *KAFKA_TOPICS),
    ]
    try:
        for child in children:
            await asyncio.to_thread(child.wait_line, r"^ready$", 30)
        bare = Target("bare", "the bare handler", port, children[0].proc.pid)
        broker = stack.broker.pid
        kafka = Target("kafka", "the bare handler + Kafka", kafka_port, children[1].proc.pid, beside=broker)
        async with Folded(stack.bootstrap, order_changelog_topic(stack.group)) as folded:
            pid = worker.child.proc.pid
            ours = Target("fb", "flexbridge", worker.port, pid, beside=broker, folded=folded)
            await _compare([bare, kafka, ours], count, rounds)
    finally:
        for child in children:
            await asyncio.to_thread(child.stop)
    records = await read_topic(stack.bootstrap, topic)
    republished = sum(1 for r in records if r.key is not None and r.key.startswith(b"ORD-WH-fb-"))
    note = f"{ours.accepted} distinct signed webhooks in {rounds} rounds, {CONCURRENCY} in flight"
    with_kafka, unit = "bare handler + two Kafka acks", "ms CPU"
    refused = sum(t.failed for t in (bare, kafka, ours))
    return [
        Figure("webhooks", "flexbridge /webhooks/flex", ours.rate, "events/s", note=note),
        Figure("webhooks", "bare aiohttp handler", bare.rate, "events/s"),
        Figure("webhooks", with_kafka, kafka.rate, "events/s", note="its own two topics, no verify, no fold"),
        Figure(
            "webhooks",
            "flexbridge / bare handler",
            ratio(ours.rate, bare.rate),
            "x",
            target=targets.WEBHOOKS_VS_BARE,
        ),
        Figure("webhooks", f"flexbridge / {with_kafka}", ratio(ours.rate, kafka.rate), "x"),
        Figure("webhooks", "worker CPU per webhook", _per_webhook(ours.cpu, ours), "ms CPU"),
        Figure(
            "webhooks",
            "worker CPU per webhook, its folds done",
            _per_webhook(ours.settled_cpu, ours),
            "ms CPU",
            note="each round until the order table had every status",
        ),
        Figure(
            "webhooks",
            "order table caught up after a round's last answer",
            1000 * ours.catch_up / rounds,
            "ms",
            note="mean over the rounds",
        ),
        Figure("webhooks", "bare handler CPU per webhook", _per_webhook(bare.cpu, bare), "ms CPU"),
        Figure("webhooks", f"{with_kafka}: CPU per webhook", _per_webhook(kafka.cpu, kafka), "ms CPU"),
        *(
            Figure(
                "webhooks",
                "embedded broker CPU per webhook" + ("" if t is ours else f" to {t.label}"),
                _per_webhook(t.beside_cpu, t),
                "ms CPU",
                note="over that target's rounds, on the same cores",
            )
            for t in (ours, kafka)
        ),
        *(
            Figure("webhooks", f"client CPU per webhook to {t.label}", _per_webhook(t.client_cpu, t), unit)
            for t in (ours, bare, kafka)
        ),
        *(Figure("webhooks", f"flexbridge answer p{q}", percentile(ours.answer_ms, q), "ms") for q in QS),
        *(Figure("webhooks", f"bare handler answer p{q}", percentile(bare.answer_ms, q), "ms") for q in QS),
        *(Figure("webhooks", f"{with_kafka}: answer p{q}", percentile(kafka.answer_ms, q), "ms") for q in QS),
        Figure(
            "webhooks",
            "republished on flex.webhooks",
            republished,
            "records",
            target=ours.accepted,
            note=f"accepted {ours.accepted}, refused {refused} (all servers)",
        ),
    ]


def _per_webhook(cpu_seconds: float, target: Target) -> float:
    return 1000 * cpu_seconds / max(1, target.accepted)
