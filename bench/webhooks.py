"""Verified webhooks/s acknowledged by ``POST /webhooks/flex`` (2xx only after Kafka has both records).

Baseline in the same run: a bare aiohttp handler in its own process that reads the body and answers
200, driven by the same client at the same concurrency. The answer times (POST to the end of the
answer, p50 and p99) of both show what the two Kafka acknowledgements add to each delivery, and the
client's own CPU per webhook shows how much of the two cores the driving takes. Every
delivery is distinct (its own ``OrderId``), signed with the worker's subscriber key and a fresh
nonce, so neither the dedupe nor the nonce check short-circuits it; afterwards the records on
``flex.webhooks`` are counted to show each acknowledged webhook was really published.

``python -m bench.webhooks serve --port P`` is the bare handler (prints ``ready``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import sys
import time
from dataclasses import dataclass, field

import aiohttp
import orjson
from aiohttp import web

from bench import targets
from bench.common import Figure, cpu_time, percentile, ratio
from consumers.webhooks.signature import http_date, new_nonce, sign
from schemas.webhooks import STATUS_BY_EVENT
from streams.kafka.clients import read_topic
from streams.local.procs import Child, free_port
from streams.local.stack import CLI, LocalStack, RunningWorker

__all__ = ["SUBSCRIBER_KEY", "bench_webhooks", "deliveries", "serve_bare"]

SUBSCRIBER_KEY = base64.b64encode(hashlib.sha512(b"flexbridge-bench-subscriber").digest()).decode()
CONCURRENCY = 64
WARMUP = 200
QS = (50, 99)  # the answer-time percentiles reported
EVENTS = tuple(STATUS_BY_EVENT)  # every one maps to a status: two records per webhook

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
    elapsed: float = 0.0
    accepted: int = 0
    failed: int = 0
    cpu: float = 0.0
    beside_cpu: float = 0.0
    client_cpu: float = 0.0  # the benchmark's own: its aiohttp client driving the rounds
    answer_ms: list[float] = field(default_factory=list)

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

    @property
    def rate(self) -> float:
        return self.accepted / self.elapsed if self.elapsed else 0.0


async def _compare(bare: Target, ours: Target, count: int, rounds: int) -> None:
    """Warm both up, then alternate rounds, so a change in the machine's load hits both alike."""
    for target in (bare, ours):
        await _drive(
            f"http://127.0.0.1:{target.port}/webhooks/flex",
            deliveries(WARMUP, f"127.0.0.1:{target.port}", f"warm-{target.name}"),
        )
    per_round = max(1, count // rounds)
    for r in range(rounds):
        await bare.round(per_round, f"{bare.name}-{r}")
        await ours.round(per_round, f"{ours.name}-{r}")


async def bench_webhooks(
    stack: LocalStack, worker: RunningWorker, topic: str, count: int, rounds: int = 4
) -> list[Figure]:
    """Needs a worker started with ``FLEXBRIDGE_WEBHOOK__SUBSCRIBER_KEY`` = :data:`SUBSCRIBER_KEY`."""
    port = free_port()
    args = [*CLI[:1], "-m", "bench.webhooks", "serve", "--port", str(port)]
    child = Child("bare-webhooks", args, {}, stack.workdir / "bare-webhooks.log")
    try:
        await asyncio.to_thread(child.wait_line, r"^ready$", 30)
        bare = Target("bare", "the bare handler", port, child.proc.pid)
        ours = Target("fb", "flexbridge", worker.port, worker.child.proc.pid, beside=stack.broker.pid)
        await _compare(bare, ours, count, rounds)
    finally:
        await asyncio.to_thread(child.stop)
    records = await read_topic(stack.bootstrap, topic)
    republished = sum(1 for r in records if r.key is not None and r.key.startswith(b"ORD-WH-fb-"))
    note = f"{ours.accepted} distinct signed webhooks in {rounds} rounds, {CONCURRENCY} in flight"
    return [
        Figure("webhooks", "flexbridge /webhooks/flex", ours.rate, "events/s", note=note),
        Figure("webhooks", "bare aiohttp handler", bare.rate, "events/s"),
        Figure(
            "webhooks",
            "flexbridge / bare handler",
            ratio(ours.rate, bare.rate),
            "x",
            target=targets.WEBHOOKS_VS_BARE,
        ),
        Figure("webhooks", "worker CPU per webhook", 1000 * ours.cpu / max(1, ours.accepted), "ms CPU"),
        Figure("webhooks", "bare handler CPU per webhook", 1000 * bare.cpu / max(1, bare.accepted), "ms CPU"),
        Figure(
            "webhooks",
            "embedded broker CPU per webhook",
            1000 * ours.beside_cpu / max(1, ours.accepted),
            "ms CPU",
            note="over flexbridge's rounds, on the same cores",
        ),
        *(
            Figure(
                "webhooks",
                f"client CPU per webhook to {t.label}",
                1000 * t.client_cpu / max(1, t.accepted),
                "ms CPU",
            )
            for t in (ours, bare)
        ),
        *(Figure("webhooks", f"flexbridge answer p{q}", percentile(ours.answer_ms, q), "ms") for q in QS),
        *(Figure("webhooks", f"bare handler answer p{q}", percentile(bare.answer_ms, q), "ms") for q in QS),
        Figure(
            "webhooks",
            "republished on flex.webhooks",
            republished,
            "records",
            target=ours.accepted,
            note=f"accepted {ours.accepted}, refused {ours.failed + bare.failed} (both servers)",
        ),
    ]


async def serve_bare(port: int) -> None:
    """The baseline: read the body, answer 200 with a small JSON body, nothing else."""

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"status": "accepted"})

    app = web.Application()
    app.router.add_post("/webhooks/flex", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        print("ready", flush=True)
        await asyncio.Event().wait()  # until SIGTERM
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks")
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_bare(args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
