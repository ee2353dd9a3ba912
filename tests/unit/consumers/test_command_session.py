"""Unit tests: a command's orderSessionKey must be the key of the order it names (pure, Flex faked):
checked against the order state when flexbridge knows the key, else against Flex's own order."""

from __future__ import annotations

from typing import Any

import pytest

from consumers.commands import run_command
from schemas.commands import OrderCommand
from schemas.flex import CancelResponse, CaptureResponse, RefundResponse
from schemas.order_state import FlexOrderAmounts, OrderState


class FlexOrders:
    """One Flex order, read by key (``GET /v1/orders/{id}``); every call recorded."""

    def __init__(self, **order: Any) -> None:
        self.order = {"id": "s9", "externalOrderId": "O1", "mid": "mid-a", "statusName": "APPROVED"}
        self.order.update(amount=1000, capturedAmount=1000, refundedAmount=0, currencyCode="USD", **order)
        self.calls: list[tuple[str, str]] = []

    async def refund(self, key: str, cents: int, message: str | None = None) -> RefundResponse:
        self.calls.append(("refund", key))
        return RefundResponse.model_validate({"status": "SUCCESS", "transactionId": "t1"})

    async def cancel(self, key: str, idem: str) -> CancelResponse:
        self.calls.append(("cancel", key))
        return CancelResponse.model_validate({})

    async def external_cancel(self, order_id: str, idem: str) -> CancelResponse:
        self.calls.append(("external-cancel", order_id))
        return CancelResponse.model_validate({})

    async def capture(self, key: str, cents: int, currency: str, idem: str) -> CaptureResponse:
        self.calls.append(("capture", key))
        return CaptureResponse.model_validate({"status": "SUCCESS"})

    async def order_amounts(self, key: str) -> FlexOrderAmounts:
        self.calls.append(("order", key))
        return FlexOrderAmounts.model_validate(self.order)


def cmd(kind: str, **over: Any) -> OrderCommand:
    fields = {"commandId": "c1", "type": kind, "orderId": "O1", "mid": "mid-a", "orderSessionKey": "s9"}
    return OrderCommand.model_validate({**fields, **over})


def known(**over: Any) -> OrderState:
    fields: dict[str, Any] = {"order_id": "O1", "mid": "mid-a", "order_session_key": "s1"}
    fields.update(status="APPROVED", currency="USD", authorised_amount=1000)
    return OrderState(**{**fields, **over})


@pytest.mark.parametrize("kind", ["refund", "cancel", "capture"])
async def test_a_key_other_than_the_known_one_is_rejected_without_a_call(kind: str) -> None:
    flex = FlexOrders()
    out = await run_command(cmd(kind, amount=100), known(), flex)
    assert out.answer.status == "REJECTED" and flex.calls == []
    assert out.answer.reason is not None and out.answer.reason.startswith("orderSessionKey-mismatch")
    assert "the command's orderSessionKey is not the one of order O1" in out.answer.reason
    assert "s9" not in out.answer.reason and "s1" not in out.answer.reason  # the order's: in the answer
    assert out.answer.order_session_key == "s1"
    assert out.changes == {}


async def test_the_known_key_in_any_case_is_the_same_key() -> None:
    flex = FlexOrders()
    out = await run_command(cmd("refund", amount=100, orderSessionKey="S1"), known(), flex)
    assert out.answer.status == "REFUNDED" and flex.calls == [("refund", "S1")]


@pytest.mark.parametrize(
    ("flex_order", "says"),
    [
        (
            {"externalOrderId": "O2"},
            "Flex's order of the command's orderSessionKey is not merchant mid mid-a's order O1",
        ),
        (
            {"mid": "mid-b"},
            "Flex's order of the command's orderSessionKey is not merchant mid mid-a's order O1",
        ),
        ({"externalOrderId": None}, "does not say which merchant order it is"),
    ],
)
async def test_an_unknown_orders_key_is_looked_up_and_refused_unless_it_is_that_merchants_order(
    flex_order: dict[str, Any], says: str
) -> None:
    flex = FlexOrders(**flex_order)
    for state in (None, known(order_session_key=None)):
        flex.calls.clear()
        out = await run_command(cmd("refund", amount=100), state, flex)
        assert out.answer.status == "REJECTED" and flex.calls == [("order", "s9")]
        assert out.answer.reason is not None and says in out.answer.reason and "s9" not in out.answer.reason
        assert out.answer.order_session_key is None and out.changes == {}


async def test_an_unknown_orders_key_that_flex_confirms_is_used() -> None:
    flex = FlexOrders(mid="MID-A")  # a GUID's case does not matter
    out = await run_command(cmd("refund", amount=100), None, flex)
    assert out.answer.status == "REFUNDED" and flex.calls == [("order", "s9"), ("refund", "s9")]
    assert out.changes["order_session_key"] == "s9"


async def test_a_cancel_by_an_unknown_orders_key_is_checked_too() -> None:
    flex = FlexOrders(externalOrderId="O2", statusName="SUBMITTED")
    out = await run_command(cmd("cancel"), None, flex)
    assert out.answer.status == "REJECTED" and flex.calls == [("order", "s9")]
    flex = FlexOrders(statusName="SUBMITTED")
    out = await run_command(cmd("cancel"), None, flex)
    assert out.answer.status == "CANCELLED" and flex.calls == [("order", "s9"), ("cancel", "s9")]
