"""MIT batch: events/s from ``payments.declined`` to uploaded SFTP batch files, and the worker's peak RSS.

In one run, on one fresh topic of managed-MIT declines (``isMIT=true``):

- baseline: a bare aiokafka ``getmany`` loop reading the whole topic (no parsing, no commits);
- flexbridge: a real ``flexbridge worker`` (``FLEXBRIDGE_ROUTING__MIT=sftp``, files of 2000 records)
  started on the full topic, timed from its batch consumer's first record to the last record in a
  file renamed into the sandbox's inbound folder (``records_uploaded`` of ``/ready``'s batch stats);
- the worker's peak RSS (``VmHWM``) at a quarter of the records and at the end: flat means the
  second is within 20 % of the first.

The sandbox settles batch orders after an hour, so no outcome webhooks flow during the run.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.common import Figure, produce_all, rss_mb
from streams.local_stack import LocalStack, RunningWorker
from streams.procs import free_port
from streams.traffic import make_event

__all__ = ["bench_mit", "mit_events"]

TOPIC = "bench.mit.declined"
PARTITIONS = 8
FLAT_GROWTH = 0.20  # peak RSS at the end within 20 % of the peak at a quarter of the records


def mit_events(count: int, seed: int) -> Iterator[tuple[bytes, bytes]]:
    """``count`` valid managed-MIT rebill declines as (key, value), generated lazily."""
    rng = random.Random(seed)
    for i in range(count):
        order = f"ORD-M{seed}-{i:07d}"
        yield order.encode(), orjson.dumps(make_event("mit-rebill", order, rng))


async def _create_topic(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    finally:
        await admin.close()


async def _bare_getmany(bootstrap: str, topic: str, count: int) -> float:
    """Events/s of a bare ``getmany`` loop reading ``count`` records from the start of ``topic``."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        seen = 0
        started = time.monotonic()
        while seen < count:
            batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            seen += sum(len(records) for records in batches.values())
        return count / (time.monotonic() - started)
    finally:
        await consumer.stop()


@dataclass
class _Run:
    """What the sampler saw of the worker: when its batch consumer started and ended, and its RSS."""

    count: int
    pid: int
    started: float | None = None
    ended: float | None = None
    hwm_quarter: float = float("nan")
    hwm_end: float = float("nan")
    samples: list[tuple[float, int, float]] = field(default_factory=list)  # (t, uploaded, rss)

    def observe(self, now: float, stats: dict[str, Any]) -> None:
        seen, uploaded = int(stats.get("seen", 0)), int(stats.get("records_uploaded", 0))
        if seen == 0:
            self.started = None  # the last sample before the first record: the clock starts there
        elif self.started is None:
            self.started = self.samples[-1][0] if self.samples else now
        if uploaded >= self.count // 4 and self.hwm_quarter != self.hwm_quarter:  # still NaN
            self.hwm_quarter = rss_mb(self.pid, "VmHWM")
        if uploaded >= self.count and self.ended is None:
            self.ended = now
            self.hwm_end = rss_mb(self.pid, "VmHWM")
        self.samples.append((now, uploaded, rss_mb(self.pid)))


async def _batch_stats(http: httpx.AsyncClient, url: str) -> dict[str, Any] | None:
    try:
        answer = await http.get(url + "/ready")
        batch: dict[str, Any] | None = answer.json().get("batch")
    except (httpx.TransportError, ValueError):
        return None
    return batch


async def _follow(worker: RunningWorker, run: _Run, timeout: float) -> None:
    """Sample the worker every 50 ms until every record is uploaded (or ``timeout``)."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=5) as http:
        while run.ended is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{run.count} MIT records not uploaded within {timeout:.0f} s")
            if worker.child.proc.poll() is not None:
                raise RuntimeError(f"the worker exited; see {worker.child.log_path}")
            stats = await _batch_stats(http, worker.url)
            now = time.monotonic()
            if stats is not None:
                run.observe(now, stats)
            elif run.started is None:
                run.samples.append((now, 0, rss_mb(run.pid)))
            await asyncio.sleep(0.05)


def _worker_env() -> dict[str, str]:
    return {
        "FLEXBRIDGE_TOPICS__DECLINED": TOPIC,
        "FLEXBRIDGE_KAFKA__GROUP_ID": "bench-mit",
        "FLEXBRIDGE_ROUTING__MIT": "sftp",
        "FLEXBRIDGE_BATCH__MAX_RECORDS": "2000",
    }


async def _flexbridge(stack: LocalStack, count: int) -> _Run:
    port = free_port()
    await stack.start_full_sandbox(port, settle_seconds=3600)
    worker = stack.spawn_worker("mit-worker", port, **_worker_env())
    run = _Run(count, worker.child.proc.pid)
    try:
        await _follow(worker, run, timeout=120 + count / 500)
    finally:
        await asyncio.to_thread(worker.child.stop)
    return run


def _figures(count: int, bare: float, run: _Run) -> list[Figure]:
    assert run.started is not None and run.ended is not None
    ours = count / (run.ended - run.started)
    growth = run.hwm_end / run.hwm_quarter - 1
    note = f"{count} events, files of 2000"
    return [
        Figure("mit batch", "flexbridge, topic to uploaded file", ours, "events/s", note=note),
        Figure("mit batch", "bare getmany loop", bare, "events/s"),
        Figure("mit batch", "flexbridge / bare loop", ours / bare, "x", target=0.2),
        Figure("mit batch", "worker peak RSS", run.hwm_end, "MB", target=300, at_most=True),
        Figure("mit batch", "peak RSS at 25 % of events", run.hwm_quarter, "MB"),
        Figure("mit batch", "peak RSS growth 25 % → 100 %", growth * 100, "%", target=20, at_most=True),
    ]


async def bench_mit(stack: LocalStack, count: int) -> list[Figure]:
    """The MIT batch figures (run it last: it replaces the stack's sandbox with a full one)."""
    await _create_topic(stack.bootstrap, TOPIC)
    produced = await produce_all(stack.bootstrap, TOPIC, mit_events(count, seed=11))
    bare = await _bare_getmany(stack.bootstrap, TOPIC, produced)
    run = await _flexbridge(stack, produced)
    return _figures(produced, bare, run)
