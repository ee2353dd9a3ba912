"""A command refused for an order its merchant does not have leaves no order behind: one with the
wrong ``mid`` does not make the orderId ambiguous for the next command (the command agent with a
dict for its table, Flex and Kafka faked)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import orjson
from pydantic import SecretStr

from consumers.order_machine import fold_json
from core.merchants import Merchant, Merchants
from core.settings import TopicSettings
from schemas.status import OrderStatus, status_of
from streams.runtime.commands import CommandAgent
from streams.runtime.metrics import Metrics
from streams.runtime.orders import OrderBook

ORDER = "ORD-7"
ACME = Merchant(mid="mid-acme", name="acme", app_key=SecretStr("k"), app_secret=SecretStr("s"))
CORA = Merchant(mid="mid-cora", name="cora", app_key=SecretStr("k"), app_secret=SecretStr("s"))


class _Flex:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def for_merchant(self, merchant: Merchant) -> _Flex:
        return self

    async def cancel(self, session: str, key: str) -> None:
        self.calls.append(("cancel", session))


class _Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    async def send_and_wait(self, topic: str, value: bytes, key: bytes | None = None, **_: Any) -> None:
        self.sent.append((topic, value))


def _message(offset: int, **command: Any) -> SimpleNamespace:
    value = orjson.dumps({"orderId": ORDER, **command})
    return SimpleNamespace(
        topic="orders.commands", partition=0, offset=offset, key=ORDER.encode(), headers=[], value=value
    )


async def test_a_command_with_the_wrong_mid_is_refused_and_makes_no_order() -> None:
    acmes = status_of(ORDER, "CAPTUREREQUIRED", "evaluate", "E1", session_key="S-1", detail={"mid": ACME.mid})
    stored = fold_json(None, acmes)[0]
    assert stored is not None
    table = {f"{ACME.mid}/{ORDER}": stored}
    book = OrderBook(table, Metrics(), (ACME.mid or "", CORA.mid or ""))
    flex, producer = _Flex(), _Producer()

    async def clients() -> tuple[_Producer, _Flex]:
        return producer, flex

    merchants = Merchants([ACME, CORA])
    runtime = SimpleNamespace(clients=clients, merchants=lambda: merchants, metrics=Metrics())
    agent = CommandAgent(TopicSettings(), runtime, book)  # type: ignore[arg-type]

    await agent.handle(_message(1, commandId="C-1", type="refund", amount=100, mid=CORA.mid))
    [refused] = [OrderStatus.model_validate_json(v) for t, v in producer.sent if t == "orders.status"]
    assert refused.status == "REJECTED" and refused.detail["mid"] == CORA.mid
    book.on_statuses([(ORDER.encode(), refused.model_dump_json(by_alias=True).encode(), 0)])  # folded back
    assert list(table) == [f"{ACME.mid}/{ORDER}"] and flex.calls == []  # no order of cora's
    assert refused.reason == f"unknown-order: merchant mid {CORA.mid} has no order {ORDER} (none seen); " + (
        "if Flex has it, give its orderSessionKey"
    )

    await agent.handle(_message(2, commandId="C-2", type="cancel"))  # no mid: acme's, not ambiguous
    statuses = [OrderStatus.model_validate_json(v) for t, v in producer.sent if t == "orders.status"]
    assert statuses[-1].status == "CANCELLED" and flex.calls == [("cancel", "S-1")]
