"""Unit tests: distinct refund commands are distinct refunds at Flex, and a refund Flex answered as
a repeat of another command's is never reported REFUNDED (pure, Flex faked)."""

from __future__ import annotations

from typing import Any

from consumers.commands import CommandOutcome, run_command
from consumers.order_machine import record_command
from schemas.commands import OrderCommand
from schemas.flex import CancelResponse, CaptureResponse, RefundResponse
from schemas.order_state import FlexOrderAmounts, OrderState


class DedupingFlex:
    """Refunds like Flex: a call like the order's last refund is a repeat, answered with that
    refund's transactionId and not refunded again. ``same`` says which calls are alike: by amount
    and message (the sandbox's rule) or, stricter, by amount alone."""

    def __init__(self, *, by_message: bool = True) -> None:
        self.by_message = by_message
        self.refunds: list[tuple[int, str | None, str]] = []  # made: amount, message, transactionId
        self.messages: list[str | None] = []

    def _same(self, cents: int, message: str | None) -> str | None:
        if not self.refunds:
            return None
        amount, last_message, transaction_id = self.refunds[-1]
        alike = amount == cents and (not self.by_message or last_message == message)
        return transaction_id if alike else None

    async def refund(self, key: str, cents: int, message: str | None = None) -> RefundResponse:
        self.messages.append(message)
        transaction_id = self._same(cents, message)
        if transaction_id is None:
            transaction_id = f"t{len(self.refunds) + 1}"
            self.refunds.append((cents, message, transaction_id))
        return RefundResponse.model_validate({"status": "SUCCESS", "transactionId": transaction_id})

    async def cancel(self, key: str, idem: str) -> CancelResponse:
        raise AssertionError("not called")

    async def external_cancel(self, order_id: str, idem: str) -> CancelResponse:
        raise AssertionError("not called")

    async def capture(self, key: str, cents: int, currency: str, idem: str) -> CaptureResponse:
        raise AssertionError("not called")

    async def order_amounts(self, key: str) -> FlexOrderAmounts:
        raise AssertionError("not called")

    @property
    def refunded(self) -> int:
        return sum(amount for amount, _, _ in self.refunds)


def approved() -> OrderState:
    fields: dict[str, Any] = {"order_session_key": "s1", "status": "APPROVED", "currency": "USD"}
    return OrderState(order_id="O1", authorised_amount=1000, **fields)


def refund(command_id: str, amount: int, **over: Any) -> OrderCommand:
    fields = {"commandId": command_id, "type": "refund", "orderId": "O1", "amount": amount, **over}
    return OrderCommand.model_validate(fields)


async def run_all(state: OrderState, flex: DedupingFlex, *commands: OrderCommand) -> list[CommandOutcome]:
    outcomes = []
    for command in commands:
        outcome = await run_command(command, state, flex)
        state = record_command(state, outcome.answer, outcome.record, outcome.changes)
        outcomes.append(outcome)
    return outcomes


async def test_refunds_of_one_amount_by_distinct_commands_are_distinct_refunds_at_flex() -> None:
    flex = DedupingFlex()
    commands = [refund("c1", 100), refund("c2", 1), refund("c3", 100), refund("c4", 100)]
    outcomes = await run_all(approved(), flex, *commands)
    assert [o.answer.status for o in outcomes] == ["REFUNDED"] * 4
    assert outcomes[-1].answer.detail["refundedAmount"] == flex.refunded == 301
    assert flex.messages == ["commandId c1", "commandId c2", "commandId c3", "commandId c4"]


async def test_the_refund_message_keeps_the_commands_own_message() -> None:
    flex = DedupingFlex()
    await run_all(approved(), flex, refund("c1", 100, message="damaged"))
    assert flex.messages == ["damaged [commandId c1]"]


async def test_a_refund_flex_answers_as_a_repeat_of_another_command_is_rejected_not_refunded() -> None:
    flex = DedupingFlex(by_message=False)  # a Flex that dedupes on the amount alone
    first, again = await run_all(approved(), flex, refund("c1", 100), refund("c2", 100))
    assert first.answer.status == "REFUNDED" and flex.refunded == 100
    assert again.answer.status == "REJECTED" and again.changes == {}
    reason = again.answer.reason or ""
    assert "repeat of command c1 (transactionId t1)" in reason
    assert again.answer.detail["repeatOf"] == "c1" and "refundedAmount" not in again.answer.detail
    assert again.record is not None and again.record.status == "REJECTED"
