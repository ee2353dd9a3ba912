"""Commands of many orders run side by side in one worker (FLEXBRIDGE_ORDERS__COMMANDS_IN_FLIGHT),
those of one order one after another in the order read: real worker, broker and sandbox, Flex
slowed down so that the sandbox's journal shows which calls were in flight together."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from streams.local.stack import metric_total
from streams.runtime.reconcile import partition_of
from streams.runtime.worker import app_id
from tests.conftest import Stack, Worker
from tests.flows import ready
from tests.integration.runtime.test_commands import (
    answers,
    capture_required_orders,
    command,
    first_answer,
    send,
)
from tests.support import in_transactions, unique, wait_for

pytestmark = pytest.mark.integration

FLEX_MS = 300  # each /v1/capture answered after this long
PARTITIONS = 4  # the test stack's FLEXBRIDGE_KAFKA__TOPIC_PARTITIONS
FLEX_MS_IN_FLIGHT = 8_000  # a capture in flight while other commands are answered (Flex timeout: 10 s)


def most_at_once(calls: list[dict[str, Any]]) -> int:
    """The most calls the sandbox was serving at one moment (from each call's arrival and duration)."""
    moments: list[tuple[datetime, int]] = []
    for call in calls:
        start = datetime.fromisoformat(call["at"].replace("Z", "+00:00"))
        moments += [(start, 1), (start + timedelta(milliseconds=call["durationMs"]), -1)]
    at_once = most = 0
    for _, step in sorted(moments):  # an end before a start at the same moment
        at_once += step
        most = max(most, at_once)
    return most


async def slow_captures(
    stack: Stack, worker: Worker, count: int, flex_ms: int, orders: list[str] | None = None
) -> list[dict[str, Any]]:
    """Captures of ``count`` capture-required orders of ``worker`` (new ones, or ``orders``), with Flex
    answering each capture after ``flex_ms`` from now on (the next test's sandbox is reset:
    fresh_sandbox)."""
    orders = orders or [unique("ORD") for _ in range(count)]
    await capture_required_orders(stack, worker, *orders)
    stack.sandbox.call("POST", "/_sandbox/faults", {"latencyMs": flex_ms, "paths": ["/v1/capture"]})
    return [command("capture", order) for order in orders]


async def test_many_orders_commands_run_side_by_side_and_one_orders_in_turn(stack: Stack) -> None:
    worker = stack.worker()
    await ready(worker)
    captures = await slow_captures(stack, worker, 6, FLEX_MS)
    late_cancel = command("cancel", captures[0]["orderId"])  # read after its order's capture: runs after it
    await send(stack, *captures, late_cancel)
    got = await answers(stack, *(c["commandId"] for c in [*captures, late_cancel]))

    assert [first_answer(got, c)["status"] for c in captures] == ["APPROVED"] * len(captures)
    assert first_answer(got, late_cancel)["status"] == "REJECTED"
    assert "can no longer be cancelled" in first_answer(got, late_cancel)["reason"]
    calls = await asyncio.to_thread(stack.sandbox.journal, "/v1/capture")
    assert len(calls) == len(captures) and all(c["durationMs"] >= FLEX_MS for c in calls)
    assert most_at_once(calls) >= len(captures) // 2  # one at a time: 1

    async def all_committed() -> bool:  # each command acked once answered: Faust commits them all
        return sum(await committed(stack, stack.topics["commands"])) == len(captures) + 1

    await wait_for(all_committed, 30, "the commands' offsets committed", every=0.3)


async def committed(stack: Stack, topic: str) -> list[int]:
    """The workers' committed offset of each partition of ``topic`` (0 where none is)."""
    group = app_id(stack.env["FLEXBRIDGE_KAFKA__GROUP_ID"])
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()  # never joins the group: it only asks for the group's offsets
    try:
        await consumer.topics()
        parts = sorted(consumer.partitions_for_topic(topic) or ())
        return [await consumer.committed(TopicPartition(topic, p)) or 0 for p in parts]
    finally:
        await consumer.stop()


async def test_a_rebalance_with_commands_in_flight_answers_each_once(stack: Stack) -> None:
    """A second worker joins while the first has commands of many orders in flight: the rebalance
    waits for them (each acked once answered), and no command is run or answered twice."""
    first = stack.worker()
    await ready(first)
    captures = await slow_captures(stack, first, 8, 1500)
    await send(stack, *captures)

    async def in_flight() -> bool:
        started = await metric_total(first.url, "flexbridge_events_in_total", topic=stack.topics["commands"])
        return started == len(captures)

    await wait_for(in_flight, 30, "the captures in flight", every=0.05)
    second = stack.worker()  # joins: the group rebalances while the captures wait on Flex
    await ready(second)
    got = await answers(stack, *(c["commandId"] for c in captures))

    assert {c["commandId"]: [a["status"] for a in got[c["commandId"]]] for c in captures} == {
        c["commandId"]: ["APPROVED"] for c in captures
    }
    calls = await asyncio.to_thread(stack.sandbox.journal, "/v1/capture")
    assert len(calls) == len(captures) and not any(c.get("replayed") for c in calls)


async def test_a_command_in_flight_is_never_committed_past_and_a_killed_worker_leaves_it_to_the_next(
    stack: Stack,
) -> None:
    """A capture waits on Flex while the command after it in its partition is answered: the
    workers' commit of that partition stays at the capture, so a worker killed meanwhile leaves it
    to the next one, which answers it (Flex replays the capture: one effect)."""
    first = stack.worker()
    await ready(first)
    slow = unique("ORD")
    partition = partition_of(slow, PARTITIONS)
    fast, elsewhere = order_where(lambda p: p == partition), order_where(lambda p: p != partition)
    [capture] = await slow_captures(stack, first, 1, FLEX_MS_IN_FLIGHT, orders=[slow])
    after, later = command("cancel", fast), command("cancel", elsewhere)  # orders no one knows: REJECTED
    await send(stack, capture, after)  # offsets 0 and 1 of their partition
    await answers(stack, after["commandId"])
    await send(stack, later)  # in another partition, answered after ``after``
    await answers(stack, later["commandId"])
    other = partition_of(elsewhere, PARTITIONS)

    async def later_committed() -> list[int] | None:  # by a commit after ``later``'s answer
        offsets = await committed(stack, stack.topics["commands"])
        return offsets if offsets[other] == 1 else None

    offsets = await wait_for(later_committed, 30, "the later cancel committed", every=0.2)
    assert offsets[partition] == 0  # the capture still in flight: not committed past
    assert not await asyncio.to_thread(stack.sandbox.journal, "/v1/capture")  # still waiting on Flex

    first.process.kill()  # SIGKILL while the capture waits on Flex
    await wait_for(lambda: asyncio.to_thread(stack.sandbox.journal, "/v1/capture"), 30, "Flex's capture")
    stack.sandbox.call("POST", "/_sandbox/faults", {})
    second = stack.worker()
    await ready(second)
    got = await answers(stack, capture["commandId"])
    assert [a["status"] for a in got[capture["commandId"]]] == ["APPROVED"]
    calls = await asyncio.to_thread(stack.sandbox.journal, "/v1/capture")
    assert len(calls) == 2 and calls[1].get("replayed")  # the same capture again: no second effect


def order_where(accept: Callable[[int], bool]) -> str:
    """A new order id whose commands go to a partition ``accept`` takes."""
    while not accept(partition_of(order := unique("ORD"), PARTITIONS)):
        pass
    return order


async def test_the_agents_lag_shows_commands_waiting_and_clears_past_transaction_markers(
    stack: Stack,
) -> None:
    """``flexbridge_agent_consumer_lag``: the commands a worker has read and not answered show while
    Flex is slow; once answered, the command agent's lag and the order-state agent's fall to 0, also
    on partitions whose last offset is a producer transaction's commit marker (never a record)."""
    worker = stack.worker()
    await ready(worker)
    captures = await slow_captures(stack, worker, 3, 2000)
    items = [(c["orderId"], c) for c in captures]
    await asyncio.to_thread(in_transactions, stack.bootstrap, stack.topics["commands"], items, 1)

    async def waiting() -> bool:
        return await metric_total(worker.url, "flexbridge_agent_consumer_lag", agent="commands") >= 1

    await wait_for(waiting, 30, "the captures shown waiting", every=0.1)
    await answers(stack, *(c["commandId"] for c in captures))

    async def cleared() -> dict[str, set[float]] | None:
        by_agent = await agent_lags(worker.url)
        return (
            by_agent
            if set(by_agent) == {"commands", "order-state"}
            and all(values == {0.0} for values in by_agent.values())
            else None
        )

    await wait_for(cleared, 30, "both agents' lag back to 0 on every partition", every=0.3)


async def agent_lags(url: str) -> dict[str, set[float]]:
    """Each agent's values of ``flexbridge_agent_consumer_lag`` on a worker's /metrics."""
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(url + "/metrics")).text
    found: dict[str, set[float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "flexbridge_agent_consumer_lag":
                found.setdefault(sample.labels["agent"], set()).add(sample.value)
    return found
