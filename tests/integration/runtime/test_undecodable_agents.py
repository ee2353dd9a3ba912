"""Faust's agents: a record batch that cannot be decoded holds back its own partition only.

Partition 1 of ``orders.commands`` gets two lz4-compressed commands (answered), then a batch whose
attributes name zstd but whose body is not zstd, then one more command. Commands on the other
partitions, written after it (lz4 and zstd), are still answered on ``orders.status``; the one behind
the batch waits. The log, the metric and ``/ready`` name the partition and the batch's offset, as
they do for the pipeline's partitions (test_undecodable.py).
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition

from streams.local.stack import metric_total
from tests.conftest import Stack
from tests.flows import ready
from tests.integration.runtime.test_command_concurrency import order_where
from tests.integration.runtime.test_commands import command
from tests.integration.runtime.test_undecodable import CODECS, _matched, broken_batch, produce_raw, stuck
from tests.support import read_all, values, wait_for

pytestmark = pytest.mark.integration

HELD = 1  # the partition of orders.commands that gets the broken batch


def cancel(partition: int) -> dict[str, Any]:
    """A cancel of an order whose commands go to ``partition`` (any other is forwarded to its own)."""
    return command("cancel", order_where(lambda p: p == partition))


async def send_to(stack: Stack, partition: int, commands: list[dict[str, Any]], codec: str = "none") -> None:
    compression = None if codec == "none" else codec
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.bootstrap, enable_idempotence=False, compression_type=compression
    )
    await producer.start()
    try:
        for c in commands:
            key = c["orderId"].encode()
            await producer.send_and_wait(stack.topics["commands"], orjson.dumps(c), key, partition=partition)
    finally:
        await producer.stop()


async def answered(stack: Stack, wanted: list[str]) -> set[str] | None:
    """The command ids answered on orders.status, once every one of ``wanted`` is."""
    found = {
        s["eventId"]
        for s in values(await read_all(stack.bootstrap, stack.topics["status"]))
        if s.get("source") == "command"
    }
    return found if set(wanted) <= found else None


async def test_an_undecodable_batch_holds_only_its_partition_of_the_agents(stack: Stack) -> None:
    worker = stack.worker()
    await ready(worker)
    before = [cancel(HELD), cancel(HELD)]
    await send_to(stack, HELD, before, codec="lz4")  # offsets 0 and 1: the broken batch starts at 2
    await wait_for(lambda: answered(stack, [c["commandId"] for c in before]), 60, "the first answers")
    held = TopicPartition(stack.topics["commands"], HELD)
    await produce_raw(stack.bootstrap, held, broken_batch(CODECS["zstd"]))
    behind = cancel(HELD)
    await send_to(stack, HELD, [behind], codec="lz4")
    others = [cancel([0, 2, 3][i % 3]) for i in range(9)]
    for i, c in enumerate(others):
        await send_to(stack, [0, 2, 3][i % 3], [c], codec="zstd" if i % 2 else "lz4")

    wanted = [c["commandId"] for c in others]
    found = await wait_for(lambda: answered(stack, wanted), 90, "answers to the commands around the batch")
    line = rf"agents: the record batch at {held.topic}/{HELD} offset 2 cannot be decoded \(\w+"
    await wait_for(lambda: _matched(worker, line), 30, "the log line naming the batch")
    body = await wait_for(lambda: stuck(worker.url), 30, "/ready to name the held partition")
    assert [(h["reader"], h["topic"], h["partition"], h["offset"]) for h in body["undecodable"]] == [
        ("agents", held.topic, HELD, 2)
    ]
    labels = {"topic": held.topic, "partition": str(HELD)}
    assert await metric_total(worker.url, "flexbridge_undecodable_batches_total", **labels) == 1
    assert await metric_total(worker.url, "flexbridge_partitions_held") == 1
    assert behind["commandId"] not in found  # held behind the batch until an operator acts
    assert worker.process.proc.poll() is None
