"""The batch registry outlives its worker: `flexbridge worker` processes SIGKILLed after an upload and
restarted still report every unanswered record `FAILED no-batch-result` once, and match the rest."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.local.traffic import make_event
from tests.conftest import Stack, Worker
from tests.flows import ready
from tests.integration.batch.test_worker import sftp_stack
from tests.support import produce, read_all, values, wait_for

pytestmark = pytest.mark.integration
__all__ = ["sftp_stack"]

FAST = {
    "FLEXBRIDGE_BATCH__MAX_RECORDS": "3",
    "FLEXBRIDGE_BATCH__MIN_AGE_SECONDS": "2",
    "FLEXBRIDGE_BATCH__RESULT_TIMEOUT_SECONDS": "8",
    "FLEXBRIDGE_KAFKA__SESSION_TIMEOUT_MS": "3000",
    "FLEXBRIDGE_KAFKA__REBALANCE_TIMEOUT_MS": "3000",
    "FLEXBRIDGE_KAFKA__HEARTBEAT_INTERVAL_MS": "300",
    "FLEXBRIDGE_PIPELINE__DRAIN_TIMEOUT_SECONDS": "1.5",  # within the 3 s rebalance (core/settings.py)
    "FLEXBRIDGE_BATCH__DRAIN_TIMEOUT_SECONDS": "1.5",
}


async def statuses(stack: Stack) -> list[dict[str, Any]]:
    return values(await read_all(stack.bootstrap, stack.topics["status"]))


async def until(stack: Stack, want: dict[tuple[str, str], int], what: str) -> list[dict[str, Any]]:
    """Until at least ``want[(orderId prefix, status)]`` statuses of each kind are published."""

    async def enough() -> list[dict[str, Any]] | None:
        found = await statuses(stack)
        seen = Counter((s["orderId"][:2], s["status"]) for s in found)
        return found if all(seen[k] >= n for k, n in want.items()) else None

    return await wait_for(enough, 60, what, every=0.3)


async def committed(stack: Stack) -> int:
    """Offsets the batch consumer group committed on the declined topic (all partitions)."""
    group = stack.env["FLEXBRIDGE_KAFKA__GROUP_ID"] + "-batch"
    reader = AIOKafkaConsumer(bootstrap_servers=stack.bootstrap, group_id=group, enable_auto_commit=False)
    await reader.start()
    try:
        tps = [TopicPartition(stack.topics["declined"], p) for p in range(4)]
        return sum([await reader.committed(tp) or 0 for tp in tps])
    finally:
        await reader.stop()


async def polls_after(worker: Worker, after: int) -> dict[str, Any]:
    """The worker's batch stats once its result poller completed ``after`` more polls."""
    first: int | None = None

    async def check() -> dict[str, Any] | None:
        nonlocal first
        batch: dict[str, Any] = (await ready(worker))["batch"]
        first = batch["result_polls"] if first is None else first
        return batch if batch["result_polls"] >= first + after else None

    return await wait_for(check, 30, f"{after} more result polls", every=0.3)


async def mit(stack: Stack, prefix: str) -> list[str]:
    orders = [f"{prefix}{i}" for i in range(3)]
    rng = random.Random(prefix)
    await produce(
        stack.bootstrap, stack.topics["declined"], [("K", make_event("mit-rebill", o, rng)) for o in orders]
    )
    return orders


async def two_files_uploaded_then_killed(stack: Stack, first: Worker) -> tuple[list[str], list[str]]:
    """Two files uploaded, Flex's answer to the first withheld, every offset committed, then SIGKILL.

    The order ids of the first (lost) file and of the second (answered) one."""
    lost = await mit(stack, "L-")
    await until(stack, {("L-", "PENDING"): 3}, "PENDING for the first file")

    async def withheld() -> list[str] | None:
        names: list[str] = stack.sandbox.call("GET", "/_sandbox/sftp/responses")["withheld"]
        return names or None

    await wait_for(withheld, 20, "the sandbox to process the first file without answering")
    answered = await mit(stack, "S-")
    await until(stack, {("S-", "PENDING"): 3}, "PENDING for the second file")

    async def all_committed() -> int | None:
        return await committed(stack) == 6 or None

    await wait_for(all_committed, 20, "the batch offsets to be committed")
    first.process.kill()  # SIGKILL: its in-memory registry dies with it
    return lost, answered


async def assert_each_order_settled_once(stack: Stack, lost: list[str], answered: list[str]) -> None:
    found = await statuses(stack)
    pending = {s["orderId"]: s["eventId"] for s in found if s["status"] == "PENDING"}
    finals = Counter((s["orderId"], s["status"]) for s in found if s["status"] != "PENDING")
    assert finals == Counter({**{(o, "FAILED"): 1 for o in lost}, **{(o, "SUBMITTED"): 1 for o in answered}})
    failed = [s for s in found if s["status"] == "FAILED"]
    assert {s["reason"] for s in failed} == {"no-batch-result"}
    assert all(s["eventId"] == pending[s["orderId"]] for s in found)  # restored records, not batch:…
    assert sorted(o["orderId"] for o in stack.sandbox.orders()) == sorted(lost + answered)


async def test_unanswered_records_survive_a_sigkill_and_are_reported_missing_once(sftp_stack: Stack) -> None:
    sftp_stack.sandbox.call(
        "POST", "/_sandbox/sftp/responses", {"withhold": 1}
    )  # Flex loses its first answer
    first = sftp_stack.worker(**FAST)
    await ready(first)
    lost, answered = await two_files_uploaded_then_killed(sftp_stack, first)
    assert not [s for s in await statuses(sftp_stack) if s["status"] == "FAILED"]

    second = sftp_stack.worker(**FAST)
    await ready(second)
    await until(sftp_stack, {("L-", "FAILED"): 3, ("S-", "SUBMITTED"): 3}, "FAILED and SUBMITTED")
    stats = await polls_after(second, 3)
    assert stats["registry_restored"] == 2 and stats["results_missing"] == 3
    second.process.stop()
    third = sftp_stack.worker(**FAST)  # its registry holds both files, settled: nothing more to say
    await ready(third)
    assert (await polls_after(third, 3))["results_missing"] == 0
    await assert_each_order_settled_once(sftp_stack, lost, answered)
