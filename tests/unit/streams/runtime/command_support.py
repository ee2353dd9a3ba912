"""The command agent with faked clients, for the unit tests of streams/runtime/commands.py: one
merchant without a mid (the single-merchant settings), a dict (or dict-like) order table."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from pydantic import SecretStr

from core.merchants import Merchant, Merchants
from core.settings import RoutingSettings, TopicSettings
from streams.runtime.commands import CommandAgent
from streams.runtime.metrics import Metrics
from streams.runtime.orders import OrderBook

__all__ = ["MERCHANT", "PARTITIONS", "command_agent"]

PARTITIONS = 4  # of orders.commands and orders.status

MERCHANT = Merchant(
    mid=None,
    name="default",
    app_key=SecretStr("k"),
    app_secret=SecretStr("s"),
    routing=RoutingSettings(mit="api", transmit="api"),
)


def command_agent(book: OrderBook, flex: Any, producer: Any, metrics: Metrics) -> CommandAgent:
    """The agent of ``book``, calling ``flex`` and publishing with ``producer``."""

    async def clients() -> tuple[Any, Any]:
        return producer, flex

    settings = SimpleNamespace(kafka=SimpleNamespace(topic_partitions=PARTITIONS))
    runtime = SimpleNamespace(
        clients=clients, merchants=lambda: Merchants([MERCHANT]), metrics=metrics, settings=settings
    )
    return CommandAgent(TopicSettings(), runtime, book)  # type: ignore[arg-type]
