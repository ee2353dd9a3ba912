"""MIT batch: events/s from ``payments.declined`` to uploaded SFTP batch files, CPU and peak RSS.

In one run, on one fresh topic of managed-MIT declines (``isMIT=true``), each reading it whole in its
own consumer group:

- baselines: a bare aiokafka ``getmany`` loop (no parsing, no commits), and the ceiling: a bare loop
  that reads, writes the raw records into files of 2,000 and uploads them with asyncssh to OpenSSH's
  ``sftp-server`` (bench/mit_ceiling.py, bench/sshd.py);
- the batch path (the figures against the targets): the worker's SFTP batch path alone in its own
  process (bench/mit_path.py: batch consumer, uploader, producer, token source, SFTP client,
  registry and result poller, no Faust), uploading to the same OpenSSH, timed from its first record
  to the last record in a file renamed into the inbound folder;
- the full worker: a real ``flexbridge worker`` (``FLEXBRIDGE_ROUTING__MIT=sftp``, files of 2000)
  uploading to OpenSSH, sampled through ``/ready``'s batch stats: the batch path sharing one process
  and event loop with Faust, the real-time pipeline and the order-state agent;
- the batch path alone again against the sandbox's SFTP server and file intake (which share the
  machine with it, so the sandbox's CPU per record is reported beside it);
- the per-record floor: the CPU of decoding and validating each event (decode_floor), which every
  record needs before it can go into a file;
- each one's peak RSS (``VmHWM``) at a quarter of the records and at the end: flat means the
  second is within 20 % of the first.

The sandbox settles batch orders after an hour, and OpenSSH writes no response files, so no outcome
webhooks flow during the run. The figures and targets: bench/mit_figures.py.
"""

from __future__ import annotations

import asyncio
import gc
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
from bench.folded import Folded
from bench.mit_ceiling import Loop, ceiling_loop, openssh_env
from bench.mit_figures import Folds, Measured, MitRuns, mit_figures
from bench.sshd import openssh_server
from schemas.events import PaymentEvent
from streams.local.procs import Child, free_port
from streams.local.stack import LocalStack, RunningWorker
from streams.local.traffic import make_event
from streams.runtime.worker import order_changelog_topic

__all__ = ["RESULT_PREFIX", "Run", "bench_mit", "decode_floor", "mit_events"]

TOPIC = "bench.mit.declined"
PARTITIONS = 8
FLOOR_EVENTS = 20_000  # events decoded and validated for the per-record floor
RESULT_PREFIX = "mit-path-result "  # how bench/mit_path.py prints its result line


def mit_events(count: int, seed: int) -> Iterator[tuple[bytes, bytes]]:
    """``count`` valid managed-MIT rebill declines as (key, value), generated lazily."""
    rng = random.Random(seed)
    for i in range(count):
        order = f"ORD-M{seed}-{i:07d}"
        yield order.encode(), orjson.dumps(make_event("mit-rebill", order, rng))


def decode_floor(count: int) -> float:
    """CPU µs per record of the work the contract makes per-record before anything else: decoding
    the JSON value and validating it as a PaymentEvent (orjson, pydantic), on ``count`` of the
    run's events in this process, garbage collection off. No batch path can cost less per record."""
    values = [value for _, value in mit_events(count, seed=11)]
    enabled = gc.isenabled()
    gc.disable()
    try:
        started = time.process_time()
        for value in values:
            PaymentEvent.model_validate(orjson.loads(value))
        return (time.process_time() - started) / count * 1e6
    finally:
        if enabled:
            gc.enable()


async def _create_topic(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    finally:
        await admin.close()


async def _bare_getmany(bootstrap: str, topic: str, count: int) -> Loop:
    """A bare ``getmany`` loop reading ``count`` records from the start of ``topic``."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        seen = 0
        started, cpu = time.monotonic(), time.process_time()
        while seen < count:
            batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            seen += sum(len(records) for records in batches.values())
        return Loop(count, time.monotonic() - started, time.process_time() - cpu)
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
    folds: Folds | None = None  # a full worker's: its order table after the run

    _cpu_last: float = 0.0
    _cpu_started: float = 0.0

    def observe(self, now: float, stats: dict[str, Any]) -> None:
        seen, uploaded = int(stats.get("seen", 0)), int(stats.get("records_uploaded", 0))
        cpu = cpu_time(self.pid)
        if seen == 0:
            self.started = None  # the last sample before the first record: the clock starts there
        elif self.started is None:
            self.started = self.samples[-1][0] if self.samples else now
            self._cpu_started = self._cpu_last or cpu
        self._cpu_last = cpu
        if uploaded >= self.count // 4 and self.hwm_quarter != self.hwm_quarter:  # still NaN
            self.hwm_quarter = rss_mb(self.pid, "VmHWM")
        if uploaded >= self.count and self.ended is None:
            self.ended = now
            self.cpu_seconds = cpu - self._cpu_started
            self.hwm_end = rss_mb(self.pid, "VmHWM")
        self.samples.append((now, uploaded, rss_mb(self.pid)))

    def observe_folded(self, at: float) -> None:
        """The worker's order table had every record's PENDING status at ``at`` (after ``ended``)."""
        assert self.ended is not None  # _follow returned: every record was uploaded
        self.folds = Folds(at - self.ended, cpu_time(self.pid) - self._cpu_started)


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
    """A run's settings: the declines of the run, and every other topic its own (empty), so that a
    full worker reads nothing the steps before it left on the stack (the transmit step's approvals,
    the webhook step's 20,000 webhooks) while its CPU is counted."""
    own = {
        f"FLEXBRIDGE_TOPICS__{name.upper()}": f"{group}.{name}"
        for name in ("approved", "commands", "webhooks", "dlq", "audit")
    }
    return {
        **own,
        "FLEXBRIDGE_TOPICS__DECLINED": TOPIC,
        "FLEXBRIDGE_TOPICS__BATCHES": f"{group}.batches",  # each run its own registry
        "FLEXBRIDGE_TOPICS__STATUS": f"{group}.status",  # and its own order statuses
        "FLEXBRIDGE_TOPICS__LEDGER": f"{group}.ledger",  # and ledger: the same events go in its files
        "FLEXBRIDGE_KAFKA__GROUP_ID": group,
        "FLEXBRIDGE_ROUTING__MIT": "sftp",
        "FLEXBRIDGE_BATCH__MAX_RECORDS": "2000",
    }


async def _batch_path(stack: LocalStack, count: int, group: str, sftp: dict[str, str]) -> Run:
    """The batch path alone in its own process (bench/mit_path.py) in consumer group ``group``,
    ``sftp`` its SFTP settings (none: the stack's); its own view of the clock."""
    env = {**stack.worker_env(free_port()), **_env(group), **sftp}
    timeout = 120 + count / 500
    args = [sys.executable, "-m", "bench.mit_path", str(count), "--timeout", str(timeout)]
    assert stack.sandbox is not None
    sandbox_cpu = cpu_time(stack.sandbox.proc.pid)
    child = Child("mit-path", args, env, stack.workdir / f"{group}.log")
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


async def _flexbridge(stack: LocalStack, count: int, sftp: dict[str, str]) -> Run:
    """A full worker with the MIT route on, ``sftp`` its SFTP settings; sampled through ``/ready``
    until every record is uploaded, then until its order table has every ``PENDING`` status (one
    changelog record each: every order is new)."""
    worker = stack.spawn_worker("mit-worker", None, **_env("bench-mit"), **sftp)
    run = Run(count, worker.child.proc.pid)
    timeout = 120 + count / 500
    try:
        async with Folded(stack.bootstrap, order_changelog_topic("bench-mit"), from_start=True) as folded:
            await _follow(worker, run, timeout)
            run.observe_folded(await folded.reach(count, timeout))
    finally:
        await asyncio.to_thread(worker.child.stop)
    return run


def _measured(run: Run) -> Measured:
    assert run.started is not None and run.ended is not None
    return Measured(run.ended - run.started, run.cpu_seconds, run.hwm_quarter, run.hwm_end, run.folds)


async def _against_openssh(stack: LocalStack, count: int, worker: bool) -> tuple[Loop, Run, Run | None]:
    """The ceiling, the batch path and (if ``worker``) the full worker, each uploading to its own
    folders on one OpenSSH server."""
    root = stack.workdir / "openssh-uploads"
    with openssh_server(stack.workdir / "openssh") as server:
        ceiling = await ceiling_loop(stack.bootstrap, TOPIC, count, server, root / "ceiling")
        path = await _batch_path(stack, count, "bench-mit-path-openssh", openssh_env(server, root / "path"))
        full = await _flexbridge(stack, count, openssh_env(server, root / "worker")) if worker else None
    return ceiling, path, full


async def bench_mit(stack: LocalStack, count: int, worker: bool = True) -> list[Figure]:
    """The MIT batch figures (run it last: it replaces the stack's sandbox with a full one).

    ``worker=False`` skips the full-worker run."""
    await _create_topic(stack.bootstrap, TOPIC)
    produced = await produce_all(stack.bootstrap, TOPIC, mit_events(count, seed=11))
    bare = await _bare_getmany(stack.bootstrap, TOPIC, produced)
    floor = decode_floor(min(produced, FLOOR_EVENTS))
    ceiling, path, full = await _against_openssh(stack, produced, worker)
    await stack.start_full_sandbox(free_port(), settle_seconds=3600)
    sandbox = await _batch_path(stack, produced, "bench-mit-path", {})
    runs = MitRuns(
        produced,
        bare,
        ceiling,
        _measured(path),
        path_sandbox=_measured(sandbox),
        sandbox_cpu_seconds=sandbox.sandbox_cpu_seconds,
        worker_openssh=None if full is None else _measured(full),
        floor_us=floor,
    )
    return mit_figures(runs)
