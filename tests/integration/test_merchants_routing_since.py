"""A merchant onboarded with MIT by SFTP while the workers' merchants files differ, as during the
rolling restart that adds it (docs/processors.md "Changing a routing").

The real-time pipeline leaves a record routed to SFTP to the batch consumer, a group of its own,
and each decides with the file its worker was started with. Without ``routing.since``, a partition
whose pipeline is held by a worker with the new file and whose batch reader by one with the old
file has the new merchant's MIT declines left by both (the pipeline: "the batch path's"; the batch
path: "no merchant of mine"), never sent. With ``since`` ahead, records produced before it go by
the API with either file: w1 (the old file) dead-letters them as ``unknown-merchant``, w2 (the new
one) evaluates them, and neither batch reader files them, whichever worker holds each partition in
each group. After the roll the dead letters are redriven, and declines produced from ``since`` on go
into the merchant's batch files, none by the API. The two workers' ``flexbridge_routing_info``
digests differ while their files do, and agree after the roll.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from core.settings import TopicSettings
from streams.local.merchants import DEMO_MERCHANTS, LocalMerchant, local_merchant, write_merchants_file
from streams.local.procs import free_port
from streams.local.reconciliation import read_observed
from streams.local.stack import LocalStack, RunningWorker
from streams.runtime.reconcile import partition_of
from tests.sandbox.merchants_support import merchant_event
from tests.support import restart_cleanly, run_flexbridge, unique, wait_for

pytestmark = pytest.mark.integration

TOPICS = TopicSettings()
PARTITIONS = 8  # of payments.declined on the local stack (FLEXBRIDGE_KAFKA__TOPIC_PARTITIONS)
SINCE = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
AFTER_MS = round(SINCE.timestamp() * 1000) + 1000  # a record produced after the change
DANA = LocalMerchant("dana", local_merchant(4).mid, {"mit": "sftp", "since": SINCE.isoformat()})


async def _publish(bootstrap: str, orders: list[str], timestamp_ms: int | None = None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        for order in orders:
            value = orjson.dumps(merchant_event("mit-rebill", order, DANA.mid))
            await producer.send(TOPICS.declined, value, order.encode(), timestamp_ms=timestamp_ms)
        await producer.flush()
    finally:
        await producer.stop()


async def _seen(stack: LocalStack) -> tuple[dict[str, list[str]], dict[str, list[str]], list[Any]]:
    """order → the sources of its statuses; order → its dead letters' reasons; the sandbox journal."""
    async with httpx.AsyncClient(base_url=stack.sandbox_root, timeout=10) as http:
        journal = (await http.get("/_sandbox/requests")).json()["requests"]
    seen = await read_observed(stack.bootstrap, TOPICS.status, TOPICS.dlq, journal)
    sources: dict[str, list[str]] = {}
    for status in seen.statuses:
        sources.setdefault(status["orderId"], []).append(status["source"])
    dead: dict[str, list[str]] = {}
    for key, reason in seen.dead_letters:
        dead.setdefault(key, []).append(reason)
    return sources, dead, journal


async def _digest(worker: RunningWorker) -> str:
    """The worker's ``flexbridge_routing_info`` digest label, which its ``/ready`` shows too."""
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(worker.url + "/metrics")).text
        ready = (await http.get(worker.url + "/ready")).json()
    [digest] = re.findall(r'^flexbridge_routing_info\{digest="([0-9a-f]+)"\} 1\.0$', text, re.M)
    assert ready["routing_digest"] == digest, ready
    return digest


def _evaluated(journal: list[Any], order: str) -> int:
    return sum(
        1
        for c in journal
        if c.get("path") == "/v1/evaluate" and c.get("status") == 200 and c["body"].get("orderId") == order
    )


def _one_per_partition(tag: str) -> list[str]:
    """An order id for each partition of payments.declined, so every batch reader meets one."""
    orders: dict[int, str] = {}
    while len(orders) < PARTITIONS:
        order = unique(tag)
        orders.setdefault(partition_of(order, PARTITIONS), order)
    return list(orders.values())


@pytest.mark.timeout(420)  # three worker starts on two cores
async def test_a_merchant_added_with_mit_by_sftp_since_a_time_is_never_lost_while_the_files_differ(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "merchants"
    served = write_merchants_file(folder, (*DEMO_MERCHANTS, DANA), "sandbox.toml")
    old = write_merchants_file(folder, DEMO_MERCHANTS, "old.toml")
    new = write_merchants_file(folder, (*DEMO_MERCHANTS, DANA), "new.toml")
    async with LocalStack(tmp_path, group="routing-since") as stack:
        await stack.start_full_sandbox(free_port(), 1.0, merchants=served)
        w1, w2 = await asyncio.gather(
            stack.start_worker("w1-old", 90, FLEXBRIDGE_MERCHANTS_FILE=str(old)),
            stack.start_worker("w2-new", 90, FLEXBRIDGE_MERCHANTS_FILE=str(new)),
        )
        assert await _digest(w1) != await _digest(w2)  # what FlexbridgeRoutingDiffers counts
        before = [order for _ in range(3) for order in _one_per_partition("BEFORE")]
        await _publish(stack.bootstrap, before)
        await _each_evaluated_or_dead_lettered(stack, before)

        # the roll ends: every worker has the new file
        w1 = await restart_cleanly(stack, w1, "w1-new", FLEXBRIDGE_MERCHANTS_FILE=str(new))
        assert await _digest(w1) == await _digest(w2)
        await _redrive(stack, new)
        after = [order for _ in range(2) for order in _one_per_partition("AFTER")]
        await _publish(stack.bootstrap, after, timestamp_ms=AFTER_MS)
        sources, _, journal = await _settled(stack, before, after)
        assert w2.child.proc.poll() is None  # nothing made a worker stop
        assert "merchant dana routes mit api, transmit api for records produced before" in w2.child.output()
    assert not stack.crash_lines()  # every worker stopped

    for order in before:  # every partition's batch reader has passed them: it filed `after` since
        assert "batch" not in sources[order] and _evaluated(journal, order) == 1, (order, sources[order])
    for order in after:
        assert _evaluated(journal, order) == 0, order


async def _each_evaluated_or_dead_lettered(stack: LocalStack, orders: list[str]) -> None:
    """Each order one outcome: an ``/evaluate`` status, or an ``unknown-merchant`` dead letter."""

    async def done() -> bool:
        sources, dead, _ = await _seen(stack)
        return all(sources.get(o, []) + dead.get(o, []) for o in orders)

    await wait_for(done, 90, "an outcome for every decline")
    sources, dead, journal = await _seen(stack)
    for order in orders:
        outcome = sources.get(order, []) + dead.get(order, [])
        assert outcome in (["evaluate"], ["unknown-merchant"]), (order, outcome)
        assert _evaluated(journal, order) == (outcome == ["evaluate"]), order


async def _redrive(stack: LocalStack, merchants: Path) -> None:
    env = {**stack.worker_env(free_port()), "FLEXBRIDGE_MERCHANTS_FILE": str(merchants)}
    args = ("dlq", "redrive", "--reason", "unknown-merchant", "--merchant", DANA.name, "--execute")
    code, out, err = await run_flexbridge(env, *args)
    assert code == 0, (out, err)


async def _settled(
    stack: LocalStack, before: list[str], after: list[str]
) -> tuple[dict[str, list[str]], dict[str, list[str]], list[Any]]:
    """Wait until each of ``before`` is evaluated (a dead-lettered one once redriven) and each of
    ``after`` has its batch ``PENDING``; what was seen then."""

    async def settled() -> tuple[dict[str, list[str]], dict[str, list[str]], list[Any]] | None:
        seen = await _seen(stack)
        evaluated = all("evaluate" in seen[0].get(o, []) for o in before)
        return seen if evaluated and all("batch" in seen[0].get(o, []) for o in after) else None

    return await wait_for(settled, 90, "before's evaluated and after's in files")
