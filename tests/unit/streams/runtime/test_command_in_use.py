"""The command agent holds its order in :attr:`OrderBook.in_use` while it asks Flex, so a reconcile
pass meanwhile cannot forget the order under it (``OrderBook.forget``), and lets it go afterwards,
also when the call fails."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from consumers.flex.errors import FlexUnavailable
from consumers.order_machine import fold_json
from core.merchants import Merchant, Merchants
from core.settings import RoutingSettings, TopicSettings
from schemas.status import status_of
from streams.runtime.commands import CommandAgent
from streams.runtime.metrics import Metrics
from streams.runtime.orders import OrderBook

ORDER = "ORD-HELD"
MERCHANT = Merchant(
    mid=None,
    name="default",
    app_key=SecretStr("k"),
    app_secret=SecretStr("s"),
    routing=RoutingSettings(mit="api", transmit="api"),
)


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


@pytest.mark.parametrize("fail", [False, True])
async def test_the_order_is_held_while_flex_is_asked_and_let_go_after(fail: bool) -> None:
    stored = fold_json(None, status_of(ORDER, "CAPTUREREQUIRED", "evaluate", "E1", session_key="S-1"))[0]
    assert stored is not None
    book = OrderBook({ORDER: stored}, Metrics())
    flex, producer = _Flex(book, fail), _Producer()

    async def clients() -> tuple[_Producer, _Flex]:
        return producer, flex

    runtime = SimpleNamespace(clients=clients, merchants=lambda: Merchants([MERCHANT]), metrics=Metrics())
    agent = CommandAgent(TopicSettings(), runtime, book)  # type: ignore[arg-type]
    command = {"commandId": "C-1", "type": "cancel", "orderId": ORDER}
    message = SimpleNamespace(topic="orders.commands", partition=0, offset=7, key=ORDER.encode(), headers=[])
    message.value = orjson.dumps(command)

    await agent.handle(message)

    assert flex.held_during == [True]
    assert book.in_use == set()
    answers = [orjson.loads(value)["status"] for topic, value in producer.sent if topic == "orders.status"]
    assert answers == ["FAILED" if fail else "CANCELLED"]
