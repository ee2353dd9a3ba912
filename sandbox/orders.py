"""Flex orders as the sandbox keeps them: immutable snapshots, replaced on every change."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from .wire import JsonObject, utcnow

__all__ = [
    "STATUS_CODES",
    "FlexStatus",
    "HistoryEntry",
    "Order",
    "OrderBook",
    "OrderListener",
    "Refund",
    "new_order",
]

FlexStatus = Literal[
    "APPROVED", "DECLINED", "CHALLENGE", "SUBMITTED", "CAPTUREREQUIRED", "CANCELLED", "EXPIRED", "REFUNDED"
]
# GET /v1/orders/{id} ``status`` integers (flex-api.md §2.5): 0 Draft, 1 Onhold, 2 Cancelled,
# 3 Problem, 4 Processing, 5 Capturerequired, 6 Returned, 7 Completed.
STATUS_CODES: dict[str, int] = {
    "CHALLENGE": 1,
    "CANCELLED": 2,
    "EXPIRED": 2,
    "DECLINED": 3,
    "SUBMITTED": 4,
    "CAPTUREREQUIRED": 5,
    "REFUNDED": 6,
    "APPROVED": 7,
}

_CAMEL = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True)


class HistoryEntry(BaseModel):
    model_config = _CAMEL

    at: datetime
    action: str
    status: str
    amount: int | None = None
    detail: str | None = None


class Refund(BaseModel):
    model_config = _CAMEL

    amount: int
    message: str | None
    transaction_id: str


class Order(BaseModel):
    """One order; amounts in cents. ``order_id`` is the merchant's order id."""

    model_config = _CAMEL

    order_session_key: str
    order_id: str
    mid: str
    status: FlexStatus
    amount: int
    currency: str
    is_mit: bool = Field(alias="isMIT")
    transaction_type: str
    created_at: datetime
    expiry_date: datetime | None
    confirmation_id: str
    rule: str | None
    captured_amount: int = 0
    refunded_amount: int = 0
    refunds: tuple[Refund, ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    payer: JsonObject = Field(default_factory=dict)
    billing: JsonObject | None = None
    shipping: JsonObject | None = None

    def record(
        self,
        action: str,
        status: FlexStatus | None = None,
        *,
        amount: int | None = None,
        detail: str | None = None,
        **changes: Any,
    ) -> Order:
        """A copy with field ``changes`` applied and one more history entry."""
        new_status = status or self.status
        entry = HistoryEntry(at=utcnow(), action=action, status=new_status, amount=amount, detail=detail)
        return self.model_copy(update={**changes, "status": new_status, "history": (*self.history, entry)})

    def inspection(self) -> JsonObject:
        """The ``/_sandbox/orders`` view (camelCase, no personal data)."""
        return self.model_dump(mode="json", by_alias=True, exclude={"payer", "billing", "shipping"})


def new_order(
    *, order_id: str, mid: str, status: FlexStatus, amount: int, currency: str, **fields: Any
) -> Order:
    """A fresh order with a new orderSessionKey and confirmation id, its first history entry added."""
    order = Order(
        order_session_key=str(uuid.uuid4()),
        order_id=order_id,
        mid=mid,
        status=status,
        amount=amount,
        currency=currency,
        created_at=utcnow(),
        confirmation_id=secrets.token_hex(4).upper(),
        **fields,
    )
    return order.record("evaluate", status, amount=amount, detail=order.rule)


OrderListener = Callable[[Order], None]


class OrderBook:
    """All orders by orderSessionKey, with an index by merchant order id.

    Listeners (e.g. a webhook sender) are called with every new or changed order; its last
    ``history`` entry says what happened.
    """

    def __init__(self) -> None:
        self._orders: dict[str, Order] = {}
        self._by_merchant: dict[str, list[str]] = {}
        self._listeners: list[OrderListener] = []

    def subscribe(self, listener: OrderListener) -> None:
        self._listeners.append(listener)

    def put(self, order: Order) -> Order:
        if order.order_session_key not in self._orders:
            self._by_merchant.setdefault(order.order_id, []).append(order.order_session_key)
        self._orders[order.order_session_key] = order
        for listener in self._listeners:
            listener(order)
        return order

    def get(self, order_session_key: str) -> Order | None:
        return self._orders.get(order_session_key.lower())

    def for_merchant_order(self, order_id: str, mid: str | None = None) -> list[Order]:
        """Orders for a merchant order id, oldest first (optionally only one merchant's)."""
        keys = self._by_merchant.get(order_id, [])
        orders = [self._orders[key] for key in keys]
        return [order for order in orders if mid is None or order.mid.lower() == mid.lower()]

    def all(self) -> list[Order]:
        return list(self._orders.values())

    def clear(self) -> None:
        self._orders.clear()
        self._by_merchant.clear()
