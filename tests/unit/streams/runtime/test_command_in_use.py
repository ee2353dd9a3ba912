"""The command agent holds its order in :attr:`OrderBook.in_use` while it asks Flex, so a reconcile
pass meanwhile cannot forget the order under it (``OrderBook.forget``), and lets it go afterwards,
also when the call fails; and it answers only once Kafka has the command's record in the order
table's changelog."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from consumers.flex.errors import FlexUnavailable
from consumers.order_machine import fold_json
from core.merchants import Merchant
from schemas.status import status_of
from streams.runtime.commands import CommandAgent
from streams.runtime.metrics import Metrics
from streams.runtime.orders import OrderBook
from tests.unit.streams.runtime.command_support import command_agent

ORDER = "ORD-HELD"


class _Flex:
    """A Flex client whose cancel notes whether the order was held while it was asked."""

    def __init__(self, book: OrderBook, fail: bool) -> None:
        self.book, self.fail = book, fail
        self.held_during: list[bool] = []

    def for_merchant(self, merchant: Merchant) -> _Flex:
        return self

    async def cancel(self, session: str, key: str) -> None:
        self.held_during.append(ORDER in self.book.in_use)
        if self.fail:
            raise FlexUnavailable(
                endpoint="POST /v1/orders/{id}/cancel", last_failure="503", attempts=3, elapsed_seconds=1.0
            )


class _Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    async def send_and_wait(self, topic: str, value: bytes, key: bytes | None = None, **_: Any) -> None:
        self.sent.append((topic, value))


class _Table(dict[str, bytes]):
    """A table whose every write leaves a changelog record Kafka has not acknowledged yet."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.last_changelog: asyncio.Future[None] | None = None
        self.written = asyncio.Event()

    def __setitem__(self, key: str, value: bytes) -> None:
        super().__setitem__(key, value)
        self.last_changelog = asyncio.get_running_loop().create_future()
        self.written.set()


def _agent(table: dict[str, bytes], fail: bool) -> tuple[CommandAgent, OrderBook, _Flex, _Producer]:
    book = OrderBook(table, Metrics())
    flex, producer = _Flex(book, fail), _Producer()
    return command_agent(book, flex, producer, Metrics()), book, flex, producer


def _cancel() -> SimpleNamespace:
    command = {"commandId": "C-1", "type": "cancel", "orderId": ORDER}
    message = SimpleNamespace(topic="orders.commands", partition=0, offset=7, key=ORDER.encode(), headers=[])
    message.value = orjson.dumps(command)
    return message


def _stored() -> bytes:
    stored = fold_json(None, status_of(ORDER, "CAPTUREREQUIRED", "evaluate", "E1", session_key="S-1"))[0]
    assert stored is not None
    return stored


@pytest.mark.parametrize("fail", [False, True])
async def test_the_order_is_held_while_flex_is_asked_and_let_go_after(fail: bool) -> None:
    agent, book, flex, producer = _agent({ORDER: _stored()}, fail)

    await agent.handle(_cancel())

    assert flex.held_during == [True]
    assert book.in_use == set()
    answers = [orjson.loads(value)["status"] for topic, value in producer.sent if topic == "orders.status"]
    assert answers == ["FAILED" if fail else "CANCELLED"]


async def test_the_answer_waits_until_kafka_has_the_commands_record() -> None:
    table = _Table({ORDER: _stored()})
    agent, _, flex, producer = _agent(table, fail=False)
    handling = asyncio.ensure_future(agent.handle(_cancel()))
    await table.written.wait()  # the agent has recorded the cancel in the table
    for _ in range(20):  # every chance to answer early
        await asyncio.sleep(0)
    assert flex.held_during == [True] and producer.sent == [] and not handling.done()
    assert table.last_changelog is not None
    table.last_changelog.set_result(None)  # Kafka acknowledges the record
    await handling
    answers = [orjson.loads(value)["status"] for topic, value in producer.sent if topic == "orders.status"]
    assert answers == ["CANCELLED"]
