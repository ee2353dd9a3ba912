"""Unit tests: what a command must say exactly (pure, Flex faked): an amount is a JSON integer,
a refund's currency is its order's, and a commandId names one command."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from consumers.command_plan import plan_command
from consumers.commands import run_command
from consumers.order_machine import record_command
from schemas.commands import OrderCommand
from schemas.order_state import OrderState
from tests.unit.consumers.test_commands import FakeFlex


def cmd(kind: str = "refund", **over: Any) -> OrderCommand:
    return OrderCommand.model_validate({"commandId": "c1", "type": kind, "orderId": "O1", **over})


def approved(**over: Any) -> OrderState:
    fields: dict[str, Any] = {"order_id": "O1", "order_session_key": "s1", "status": "APPROVED"}
    return OrderState(**{**fields, "currency": "USD", "authorised_amount": 1000, **over})


@pytest.mark.parametrize("amount", [True, "12", 12.0, 0])
def test_an_amount_is_a_positive_json_integer(amount: Any) -> None:
    with pytest.raises(ValidationError, match="amount"):
        cmd(amount=amount)
    assert cmd(amount=12).amount == 12


@pytest.mark.parametrize(
    ("currency", "state", "says"),
    [
        ("EUR", approved(), "refund currency EUR differs from the order's USD"),
        ("EUR", approved(currency=None), "the order's currency is not known"),
    ],
)
def test_a_refund_in_another_currency_than_the_orders_is_rejected(
    currency: str, state: OrderState, says: str
) -> None:
    plan = plan_command(cmd(amount=100, currency=currency), state)
    assert plan.action == "reject" and plan.reason is not None and says in plan.reason
    assert plan_command(cmd(amount=100, currency="usd"), approved()).action == "refund"
    assert plan_command(cmd(amount=100), approved()).action == "refund"  # no currency: the order's


async def test_a_command_id_used_for_another_command_is_rejected_and_its_record_kept() -> None:
    flex, state = FakeFlex(), approved()
    first = await run_command(cmd(amount=100), state, flex)
    state = record_command(state, first.answer, first.record, first.changes)
    for other in (
        cmd(amount=200),
        cmd("cancel"),
        cmd(amount=100, currency="USD"),
        cmd(amount=100, message="x"),
    ):
        out = await run_command(other, state, flex)
        assert out.answer.status == "REJECTED" and out.record is None and out.changes == {}
        assert out.answer.reason is not None and out.answer.reason.startswith(
            "commandId-reused: commandId c1"
        )
        assert "(refund of 1.00, answered REFUNDED)" in out.answer.reason
    assert record_command(state, out.answer, out.record, out.changes).commands == state.commands
    again = await run_command(cmd(amount=100), state, flex)  # the exact command again
    assert again.replayed and again.answer == first.answer and len(flex.calls) == 1


async def test_a_record_from_before_requests_were_kept_compares_type_and_amount() -> None:
    flex, state = FakeFlex(), approved()
    first = await run_command(cmd(amount=100), state, flex)
    assert first.record is not None
    old = first.record.model_copy(update={"request": None})
    state = state.model_copy(update={"commands": {"c1": old}})
    assert (await run_command(cmd(amount=100, message="x"), state, flex)).replayed
    assert (await run_command(cmd(amount=300), state, flex)).answer.status == "REJECTED"
