"""Commands off their order's partition: a downstream service producing with librdkafka's default
partitioner (CRC32 of the key, where Kafka's default and aiokafka use murmur2) puts most commands in
another partition than their order's statuses and table entry. Real broker, two worker processes,
sandbox over HTTP."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from streams.local.stack import metric_total
from tests.conftest import Stack
from tests.flows import ready
from tests.integration.ops.test_partitions import keys_the_partitioners_disagree_on, librdkafka_produce
from tests.integration.runtime.test_commands import answers, capture_required_orders, command

pytestmark = pytest.mark.integration


async def test_commands_a_crc32_producer_put_off_their_orders_partition_are_each_answered_once(
    stack: Stack,
) -> None:
    """With two workers, the worker holding a command's partition often does not hold its order's:
    answered there, the capture was REJECTED (no such order). Each command is produced again to its
    order's partition (``flexbridge-forwarded-from``) and answered there."""
    first, second = stack.worker(), stack.worker()
    await ready(first)
    await ready(second)
    orders = keys_the_partitioners_disagree_on(6)  # fresh sandbox and topics: the ids are free
    await capture_required_orders(stack, first, *orders)
    captures = [command("capture", order) for order in orders]
    items = [(c["orderId"], orjson.dumps(c)) for c in captures]
    await asyncio.to_thread(librdkafka_produce, stack.bootstrap, stack.topics["commands"], items)
    got = await answers(stack, *(c["commandId"] for c in captures))

    assert {c["orderId"]: [a["status"] for a in got[c["commandId"]]] for c in captures} == {
        order: ["APPROVED"] for order in orders
    }
    calls = await asyncio.to_thread(stack.sandbox.journal, "/v1/capture")
    assert len(calls) == len(orders)
    forwarded = [
        await metric_total(
            w.url, "flexbridge_events_out_total", topic=stack.topics["commands"], outcome="forwarded"
        )
        for w in (first, second)
    ]
    assert sum(forwarded) == len(orders)  # every one was off its order's partition, each forwarded once
