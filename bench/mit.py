"""MIT batch: events/s from ``payments.declined`` to uploaded SFTP batch files, and peak RSS.

In one run, on one fresh topic of managed-MIT declines (``isMIT=true``):

- baseline: a bare aiokafka ``getmany`` loop reading the whole topic (no parsing, no commits);
- the batch path (the figure against the targets): the worker's SFTP batch path alone in its own
  process (bench/mit_path.py: batch consumer, uploader, producer, token source, SFTP client,
  registry and result poller, no Faust), in its own consumer group, timed from its first record to
  the last record in a file renamed into the sandbox's inbound folder;
- context: a real ``flexbridge worker`` (``FLEXBRIDGE_ROUTING__MIT=sftp``, files of 2000 records)
  on the full topic, same clock, sampled through ``/ready``'s batch stats: the batch path sharing
  one process and event loop with Faust, the real-time pipeline and the order-state agent;
- each one's peak RSS (``VmHWM``) at a quarter of the records and at the end: flat means the
  second is within 20 % of the first.

The sandbox settles batch orders after an hour, so no outcome webhooks flow during the run.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.common import Figure, cpu_time, produce_all, rss_mb
from streams.local.procs import Child, free_port
from streams.local.stack import LocalStack, RunningWorker
from streams.local.traffic import make_event

__all__ = ["RESULT_PREFIX", "Run", "bench_mit", "mit_events"]

TOPIC = "bench.mit.declined"
PARTITIONS = 8
FLAT_GROWTH = 0.20  # peak RSS at the end within 20 % of the peak at a quarter of the records
RESULT_PREFIX = "mit-path-result "  # how bench/mit_path.py prints its result line


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


async def _bare_getmany(bootstrap: str, topic: str, count: int) -> tuple[float, float]:
    """Events/s of a bare ``getmany`` loop reading ``count`` records from the start of ``topic``,
    and its CPU time per record (µs)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        seen = 0
        started, cpu = time.monotonic(), time.process_time()
        while seen < count:
            batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            seen += sum(len(records) for records in batches.values())
        return count / (time.monotonic() - started), (time.process_time() - cpu) / count * 1e6
    finally:
        await consumer.stop()


@dataclass
class Run:
    """What the sampler saw of a batch path: when its consumer started and ended, and its RSS."""

    count: int
    pid: int
    started: float | None = None
    ended: float | None = None
    hwm_quarter: float = float("nan")
    hwm_end: float = float("nan")
    cpu_seconds: float = float("nan")  # the process's CPU time (user + system) from started to ended
    sandbox_cpu_seconds: float = float("nan")  # the sandbox's (SFTP server, file intake) over the run
    samples: list[tuple[float, int, float]] = field(default_factory=list)  # (t, uploaded, rss)

    _cpu_last: float = 0.0

    def observe(self, now: float, stats: dict[str, Any]) -> None:
        seen, uploaded = int(stats.get("seen", 0)), int(stats.get("records_uploaded", 0))
        cpu = cpu_time(self.pid)
        if seen == 0:
            self.started = None  # the last sample before the first record: the clock starts there
        elif self.started is None:
            self.started = self.samples[-1][0] if self.samples else now
            self.cpu_seconds = -(self._cpu_last or cpu)
        self._cpu_last = cpu
        if uploaded >= self.count // 4 and self.hwm_quarter != self.hwm_quarter:  # still NaN
            self.hwm_quarter = rss_mb(self.pid, "VmHWM")
        if uploaded >= self.count and self.ended is None:
            self.ended = now
            self.cpu_seconds += cpu
            self.hwm_end = rss_mb(self.pid, "VmHWM")
        self.samples.append((now, uploaded, rss_mb(self.pid)))


async def _batch_stats(http: httpx.AsyncClient, url: str) -> dict[str, Any] | None:
    try:
        answer = await http.get(url + "/ready")
        batch: dict[str, Any] | None = answer.json().get("batch")
    except (httpx.TransportError, ValueError):
        return None
    return batch


async def _follow(worker: RunningWorker, run: Run, timeout: float) -> None:
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


def _env(group: str) -> dict[str, str]:
    return {
        "FLEXBRIDGE_TOPICS__DECLINED": TOPIC,
        "FLEXBRIDGE_TOPICS__BATCHES": f"{group}.batches",  # each run its own registry
        "FLEXBRIDGE_TOPICS__STATUS": f"{group}.status",  # and its own order statuses
        "FLEXBRIDGE_KAFKA__GROUP_ID": group,
        "FLEXBRIDGE_ROUTING__MIT": "sftp",
        "FLEXBRIDGE_BATCH__MAX_RECORDS": "2000",
    }


async def _batch_path(stack: LocalStack, count: int) -> Run:
    """The batch path alone in its own process (bench/mit_path.py); its own view of the clock."""
    env = {**stack.worker_env(free_port()), **_env("bench-mit-path")}
    timeout = 120 + count / 500
    args = [sys.executable, "-m", "bench.mit_path", str(count), "--timeout", str(timeout)]
    assert stack.sandbox is not None
    sandbox_cpu = cpu_time(stack.sandbox.proc.pid)
    child = Child("mit-path", args, env, stack.workdir / "mit-path.log")
    try:
        line = await asyncio.to_thread(child.wait_line, "^" + RESULT_PREFIX + "(.*)$", timeout + 30)
    finally:
        await asyncio.to_thread(child.stop)
    result = orjson.loads(line.group(1))
    run = Run(count, child.proc.pid, started=result["started"], ended=result["ended"])
    run.sandbox_cpu_seconds = cpu_time(stack.sandbox.proc.pid) - sandbox_cpu
    run.hwm_quarter, run.hwm_end = result["hwm_quarter"], result["hwm_end"]
    run.cpu_seconds = result["cpu_seconds"]
    return run


async def _flexbridge(stack: LocalStack, count: int) -> Run:
    worker = stack.spawn_worker("mit-worker", None, **_env("bench-mit"))  # no webhooks: orders settle in 1 h
    run = Run(count, worker.child.proc.pid)
    try:
        await _follow(worker, run, timeout=120 + count / 500)
    finally:
        await asyncio.to_thread(worker.child.stop)
    return run


def _figures(what: str, count: int, bare: float, run: Run) -> list[Figure]:
    assert run.started is not None and run.ended is not None
    ours = count / (run.ended - run.started)
    growth = run.hwm_end / run.hwm_quarter - 1
    # The batch path alone is the figure against the targets; the full worker is context.
    target = what == "batch path"
    rss_target = 300 if target else None
    cpu = run.cpu_seconds / count * 1e6
    return [
        Figure("mit batch", f"{what}, topic to uploaded file", ours, "events/s", note=f"{count} events"),
        Figure("mit batch", f"{what} CPU per record", cpu, "µs", note="user + system, whole process"),
        Figure("mit batch", f"{what} / bare loop", ours / bare, "x", target=0.2 if target else None),
        Figure("mit batch", f"{what} peak RSS", run.hwm_end, "MB", target=rss_target, at_most=True),
        Figure("mit batch", f"{what} peak RSS at 25 % of events", run.hwm_quarter, "MB"),
        Figure(
            "mit batch",
            f"{what} peak RSS growth 25 % → 100 %",
            growth * 100,
            "%",
            target=FLAT_GROWTH * 100 if target else None,
            at_most=True,
        ),
    ]


async def bench_mit(stack: LocalStack, count: int, worker: bool = True) -> list[Figure]:
    """The MIT batch figures (run it last: it replaces the stack's sandbox with a full one).

    ``worker=False`` skips the full-worker context run."""
    await _create_topic(stack.bootstrap, TOPIC)
    produced = await produce_all(stack.bootstrap, TOPIC, mit_events(count, seed=11))
    bare, bare_cpu = await _bare_getmany(stack.bootstrap, TOPIC, produced)
    await stack.start_full_sandbox(free_port(), settle_seconds=3600)
    path = await _batch_path(stack, produced)
    figures = [
        Figure("mit batch", "bare getmany loop", bare, "events/s", note=f"{produced} events"),
        Figure("mit batch", "bare getmany loop CPU per record", bare_cpu, "µs"),
    ]
    figures += _figures("batch path", produced, bare, path)
    sandbox_cpu = path.sandbox_cpu_seconds / produced * 1e6
    figures.append(
        Figure("mit batch", "sandbox CPU per record (SFTP server, Flex's file intake)", sandbox_cpu, "µs")
    )
    if worker:
        async with httpx.AsyncClient(timeout=30) as http:  # the same empty SFTP folders and orders again
            (await http.post(stack.sandbox_root + "_sandbox/reset")).raise_for_status()
        figures += _figures("full worker (context)", produced, bare, await _flexbridge(stack, produced))
    return figures
