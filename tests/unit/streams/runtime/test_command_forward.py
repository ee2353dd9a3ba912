"""A command off its orderId's partition is produced again to it (streams/runtime/commands.py
``CommandAgent.forward``), never handled where it was found."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from schemas.commands import FORWARDED
from streams.kafka.bulk import partition_for
from streams.runtime.metrics import NO_MERCHANT, Metrics
from streams.runtime.orders import OrderBook
from tests.unit.streams.runtime.command_support import PARTITIONS, command_agent

ORDER = "ORD-1001"
HOME = partition_for(ORDER.encode(), PARTITIONS)


class Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[Any, ...]] = []

    async def send_and_wait(self, topic: str, value: bytes, key: bytes, **options: Any) -> None:
        self.sent.append((topic, value, key, options))


def message(partition: int) -> Any:
    value = b'{"commandId": "c1", "type": "cancel", "orderId": "ORD-1001"}'
    return SimpleNamespace(
        topic="orders.commands", partition=partition, offset=7, value=value, headers=[("h", b"v")]
    )


async def test_a_command_on_its_orders_partition_is_left_to_be_handled() -> None:
    producer = Producer()
    agent = command_agent(OrderBook({}, Metrics()), None, producer, Metrics())
    assert not await agent.forward(message(HOME), ORDER)
    assert not await agent.forward(message((HOME + 1) % PARTITIONS), None)  # no orderId: handled here
    assert producer.sent == []


async def test_a_command_elsewhere_goes_to_its_orders_partition_with_where_it_came_from() -> None:
    producer, metrics = Producer(), Metrics()
    agent = command_agent(OrderBook({}, metrics), None, producer, metrics)
    found = (HOME + 1) % PARTITIONS
    assert await agent.forward(message(found), ORDER)
    [(topic, value, key, options)] = producer.sent
    assert (topic, key, options["partition"]) == ("orders.commands", ORDER.encode(), HOME)
    assert value == message(found).value
    assert options["headers"] == [("h", b"v"), (FORWARDED, f"{found}/7".encode())]
    forwarded = metrics.events_out.labels("orders.commands", "forwarded", NO_MERCHANT)._value.get()
    assert forwarded == 1
