"""Many merchants, one worker: 500 merchants configured, 50 of them active, against one merchant.

A stack of its own (broker, and a sandbox serving the 500 merchants with ``--merchants``: tokens
per merchant, an SFTP user each) and two runs of one worker on the same traffic, each on fresh
topics: first with a merchants file of one merchant, then with the file of all 500, where the
events are dealt to the first 50. Every merchant routes MIT by SFTP and approvals by the API, so an
active merchant needs a token and an SFTP account, and an idle one is still polled for results
(once a minute at the default 5 s poll interval, its connection closed after each poll).

Each run waits after ``/ready`` until every merchant has had its first poll (one interval, then
until no SFTP session is open: the steady state, not the start-up round), then publishes the
approvals and times them until ``/v1/transmit`` answered them all (events/s), then publishes the
MIT declines, one per active merchant, and times them until they are in uploaded batch files.
Sampled all along: peak RSS (``VmHWM``), threads (``Threads`` in ``/proc/PID/status``), child
processes, open SFTP sessions (the worker's established TCP connections to the SFTP port, from
``/proc/PID/fd`` and ``/proc/PID/net/tcp``: at peak, and while only approvals flowed, when idle
polls alone may hold one), and token fetches (``flexbridge_flex_token_fetches_total``).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from bench import targets
from bench.common import Figure, produce_all, ratio, rss_mb, until
from streams.local.merchants import LocalMerchant, local_merchant, write_merchants_file
from streams.local.procs import free_port
from streams.local.stack import LocalStack, metric_total
from streams.local.traffic import make_event
from streams.runtime.batch.polls import CONCURRENCY

__all__ = ["Measured", "Sampler", "bench_merchants", "sftp_sessions"]

CONFIGURED, ACTIVE = 500, 50
POLL_INTERVAL_SECONDS = 5.0  # FLEXBRIDGE_BATCH__POLL_INTERVAL_SECONDS' default


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def sftp_sessions(pid: int, port: int) -> int:
    """The process's established TCP connections to ``port`` (its SFTP sessions)."""
    inodes = _socket_inodes(pid)
    count = 0
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{table}") as f:
                rows = f.read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for row in rows:
            fields = row.split()  # sl local remote st … inode (the 10th)
            remote_port, state, inode = int(fields[2].rsplit(":", 1)[1], 16), fields[3], fields[9]
            count += state == "01" and remote_port == port and inode in inodes  # 01: ESTABLISHED
    return count


def _threads(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 0


def _children(pid: int) -> int:
    found = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found |= set(f.read().split())
        except FileNotFoundError:  # the thread ended meanwhile
            continue
    return len(found)


class Sampler:
    """Samples a worker's threads, child processes and SFTP sessions every ``every`` seconds."""

    def __init__(self, pid: int, sftp_port: int, every: float = 0.2) -> None:
        self.pid, self.port, self.every = pid, sftp_port, every
        self.threads = self.children = 0
        self.sessions: list[tuple[float, int]] = []  # (monotonic time, sessions open)

    def sample(self) -> None:
        self.threads = max(self.threads, _threads(self.pid))
        self.children = max(self.children, _children(self.pid))
        self.sessions.append((time.monotonic(), sftp_sessions(self.pid, self.port)))

    def peak_sessions(self, since: float = 0.0, until: float = float("inf")) -> int:
        return max((n for t, n in self.sessions if since <= t <= until), default=0)

    async def run(self) -> None:
        while True:
            await asyncio.to_thread(self.sample)
            await asyncio.sleep(self.every)


@dataclass
class Measured:
    events_per_second: float  # approvals answered by /v1/transmit
    mit_seconds: float  # to upload the MIT declines in batch files
    peak_rss_mb: float
    threads: int
    children: int
    sessions: int  # the most at once over the whole run
    sessions_no_uploads: int  # the most at once while only approvals flowed: idle polls alone
    token_fetches: float


def _events(active: list[LocalMerchant], kind: str, count: int, seed: int) -> list[tuple[bytes, bytes]]:
    """``count`` events of ``kind`` as (key, value), dealt to the ``active`` merchants in turn."""
    rng = random.Random(seed)  # a reproducible workload
    out = []
    for i in range(count):
        order = f"ORD-MM{seed}-{kind}-{i:07d}"
        event = make_event(kind, order, rng)
        assert isinstance(event, dict)
        event["mid"] = active[i % len(active)].mid
        out.append((order.encode(), orjson.dumps(event)))
    return out


def _env(label: str, merchants: Path) -> dict[str, str]:
    env = {
        f"FLEXBRIDGE_TOPICS__{role.upper()}": f"bench.merchants.{label}.{role}"
        for role in ("approved", "declined", "status", "dlq", "commands", "webhooks", "ledger", "batches")
    }
    return env | {
        "FLEXBRIDGE_MERCHANTS_FILE": str(merchants),
        "FLEXBRIDGE_KAFKA__GROUP_ID": f"bench-merchants-{label}",
        "FLEXBRIDGE_BATCH__POLL_INTERVAL_SECONDS": str(POLL_INTERVAL_SECONDS),
    }


async def _phase(
    stack: LocalStack, url: str, topic: str, events: list[tuple[bytes, bytes]], done: str
) -> float:
    """Seconds from publishing ``events`` on ``topic`` until the worker's metric ``done`` (labels:
    none, or the topic for events_out) counts them all."""
    labels = {"topic": topic} if done == "flexbridge_events_out_total" else {}
    started = time.monotonic()
    await produce_all(stack.bootstrap, topic, events)

    async def finished() -> bool:
        return await metric_total(url, done, **labels) >= len(events)

    ended = await until(finished, 120, f"{len(events)} events on {topic} done ({done})", every=0.05)
    return ended - started


async def _first_polls_done(sampler: Sampler, timeout: float = 30.0) -> None:
    """Wait out the first poll of every merchant (spread over one poll interval, each its own SSH
    connection): one interval, then until no SFTP session is open, so that the traffic meets the
    steady state (an idle merchant polled once a minute) rather than the start-up round."""
    await asyncio.sleep(POLL_INTERVAL_SECONDS)

    async def no_session() -> bool:
        return bool(sampler.sessions) and sampler.sessions[-1][1] == 0

    await until(no_session, timeout, "the first round of result polls to end", every=sampler.every)


async def _measure(
    stack: LocalStack, label: str, merchants: Path, active: list[LocalMerchant], counts: tuple[int, int]
) -> Measured:
    """One worker with the merchants file ``merchants``, the traffic of ``active``: approvals by the
    API, then MIT declines by SFTP; its figures."""
    env = _env(label, merchants)
    worker = await stack.start_worker(f"merchants-{label}", 90, None, **env)
    pid = worker.child.proc.pid
    sampler = Sampler(pid, int(stack.env["FLEXBRIDGE_SFTP__PORT"]))
    sampling = asyncio.create_task(sampler.run())
    try:
        await _first_polls_done(sampler)
        approvals = _events(active, "approval", counts[0], seed=len(active))
        topic, url = env["FLEXBRIDGE_TOPICS__APPROVED"], worker.url
        started = time.monotonic()
        sending = await _phase(stack, url, topic, approvals, "flexbridge_events_out_total")
        no_uploads = sampler.peak_sessions(started, started + sending)
        mits = _events(active, "mit-rebill", counts[1], seed=len(active))
        topic = env["FLEXBRIDGE_TOPICS__DECLINED"]
        uploading = await _phase(stack, url, topic, mits, "flexbridge_batch_records_total")
        return Measured(
            counts[0] / sending,
            uploading,
            rss_mb(pid, "VmHWM"),
            sampler.threads,
            sampler.children,
            sampler.peak_sessions(),
            no_uploads,
            await metric_total(url, "flexbridge_flex_token_fetches_total"),
        )
    finally:
        sampling.cancel()
        await asyncio.to_thread(worker.child.stop)


_FLOW, _MANY = "merchants", f"{CONFIGURED} merchants ({ACTIVE} active)"


def _figures(one: Measured, many: Measured, counts: tuple[int, int]) -> list[Figure]:
    return _speed_figures(one, many, counts) + _resource_figures(one, many)


def _speed_figures(one: Measured, many: Measured, counts: tuple[int, int]) -> list[Figure]:
    """Throughput of the API flow and the time to the MIT files, one merchant beside many."""
    flow, n = _FLOW, _MANY
    traffic = f"{counts[0]} approvals by the API, dealt to the active merchants"
    mit = f"{counts[1]} MIT declines: at most a file per active merchant and partition"
    return [
        Figure(flow, "events/s, one merchant", one.events_per_second, "events/s", note=traffic),
        Figure(flow, f"events/s, {n}", many.events_per_second, "events/s", note=traffic),
        Figure(flow, f"events/s, {n} / one", ratio(many.events_per_second, one.events_per_second), "x"),
        Figure(flow, "MIT by SFTP, one merchant", one.mit_seconds, "s", note=mit),
        Figure(flow, f"MIT by SFTP, {n}", many.mit_seconds, "s", note=mit),
    ]


def _resource_figures(one: Measured, many: Measured) -> list[Figure]:
    """Memory, threads, processes, SFTP sessions and token fetches, against their targets."""
    flow, n = _FLOW, _MANY
    return [
        Figure(flow, "peak RSS, one merchant", one.peak_rss_mb, "MB"),
        Figure(flow, f"peak RSS, {n}", many.peak_rss_mb, "MB"),
        Figure(
            flow,
            f"peak RSS, {n} / one",
            ratio(many.peak_rss_mb, one.peak_rss_mb),
            "x",
            targets.MERCHANTS_RSS_VS_ONE,
            at_most=True,
        ),
        Figure(flow, "threads, one merchant", one.threads, "threads"),
        Figure(
            flow,
            f"threads, {n}, beyond one merchant's",
            many.threads - one.threads,
            "threads",
            targets.MERCHANTS_EXTRA_THREADS,
            at_most=True,
        ),
        Figure(flow, f"child processes, {n}", many.children, "processes", 0, at_most=True),
        # every active merchant uploading, plus the pollers' bounded concurrency
        Figure(flow, f"SFTP sessions at peak, {n}", many.sessions, "sessions", ACTIVE + CONCURRENCY, True),
        Figure(
            flow,
            f"SFTP sessions while no merchant uploads, {n}",
            many.sessions_no_uploads,
            "sessions",
            CONCURRENCY,  # idle polls alone, each connection closed after its poll
            at_most=True,
        ),
        Figure(flow, "token fetches, one merchant", one.token_fetches, "fetches", 1, at_most=True),
        Figure(flow, f"token fetches, {n}", many.token_fetches, "fetches", ACTIVE, at_most=True),
    ]


async def bench_merchants(workdir: Path, approvals: int = 2000, mits: int = ACTIVE) -> list[Figure]:
    """The figures of both runs, on a stack of its own in ``workdir/merchants``."""
    async with LocalStack(workdir / "merchants", group="bench-merchants") as stack:
        merchants = [local_merchant(i) for i in range(CONFIGURED)]
        folder = stack.workdir / "merchants-file"
        every = await asyncio.to_thread(write_merchants_file, folder, merchants)
        alone = await asyncio.to_thread(write_merchants_file, folder, merchants[:1], "one.toml")
        await stack.start_full_sandbox(free_port(), 3600, merchants=every)  # no settling: no webhooks
        counts = (approvals, mits)
        one = await _measure(stack, "one", alone, merchants[:1], counts)
        many = await _measure(stack, "many", every, merchants[:ACTIVE], counts)
    return _figures(one, many, counts)
