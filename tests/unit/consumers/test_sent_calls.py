"""Unit tests: a refund or capture is recorded as sent before its call, and a re-run of one sent and
not finished repeats the identical call instead of checking the command again against an order its
own call may have moved on (pure, Flex faked as it dedupes refunds and replays captures by key)."""

from __future__ import annotations

from typing import Any

from consumers.command_ids import request_of
from consumers.commands import run_command
from consumers.flex.errors import FlexRejected, FlexUnavailable
from consumers.keys import command_key
from consumers.order_machine import record_command
from schemas.commands import OrderCommand
from schemas.flex import CaptureResponse, RefundResponse
from schemas.order_state import FlexOrderAmounts, OrderState, SentCall
from tests.unit.consumers.test_command_refunds import DedupingFlex, approved, refund


def unavailable(endpoint: str) -> FlexUnavailable:
    return FlexUnavailable(endpoint=endpoint, last_failure="timeout", attempts=3, elapsed_seconds=1.0)


class FlexWithOrders(DedupingFlex):
    """Also refuses a new refund above what is left (2001), and answers ``GET /v1/orders/{id}`` with
    its refunds so far, and takes captures; ``down`` fails the calls named ("refund", "lookup",
    "capture")."""

    def __init__(self, *, settled: int = 1000, down: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.settled, self.down = settled, down
        self.captures: list[tuple[str, int, str]] = []  # every call: key, cents, currency

    async def capture(self, key: str, cents: int, currency: str, idem: str) -> CaptureResponse:
        if "capture" in self.down:
            raise unavailable("POST /v1/capture")
        self.captures.append((idem, cents, currency))
        return CaptureResponse.model_validate({"status": "SUCCESS"})

    async def refund(self, key: str, cents: int, message: str | None = None) -> RefundResponse:
        if "refund" in self.down:
            raise unavailable("POST /v1/orders/{id}/refund")
        if self._same(cents, message) is None and cents > self.settled - self.refunded:
            self.messages.append(message)
            raise FlexRejected("Amount to refund (…) is greater than maximum refund amount", status_code=400)
        return await super().refund(key, cents, message)

    async def order_amounts(self, key: str) -> FlexOrderAmounts:
        if "lookup" in self.down:
            raise unavailable("GET /v1/orders/{id}")
        fields = {
            "id": key,
            "amount": self.settled,
            "refundedAmount": self.refunded,
            "statusName": "APPROVED",
        }
        return FlexOrderAmounts.model_validate(fields)


def sent_before(
    state: OrderState, command: OrderCommand, amount: int, currency: str | None = None
) -> OrderState:
    """``state`` as a run that recorded ``command``'s call as sent, and never finished, left it."""
    sent = SentCall(amount=amount, currency=currency, order_session_key="s1", request=request_of(command))
    return state.model_copy(update={"calls_sent": {command.command_id: sent}})


def refunded_elsewhere(state: OrderState, cents: int) -> OrderState:
    """``state`` once the order counts a refund of ``cents`` (a webhook, Flex's figures)."""
    return state.model_copy(update={"status": "REFUNDED", "refunded_amount": cents})


async def test_a_refund_is_recorded_as_sent_before_its_call_and_the_record_goes_once_finished() -> None:
    flex, marks = FlexWithOrders(), []

    async def mark_sent(sent: SentCall) -> None:
        marks.append((sent, len(flex.messages)))  # with the calls Flex had then

    command = refund("c1", 400, message="damaged")
    outcome = await run_command(command, approved(), flex, mark_sent)
    [(sent, calls_before)] = marks
    assert calls_before == 0 and (sent.amount, sent.order_session_key) == (400, "s1")
    assert sent.request == request_of(command) and sent.request["message"] == "damaged"
    marked = approved().model_copy(update={"calls_sent": {"c1": sent}})
    done = record_command(marked, outcome.answer, outcome.record, outcome.changes)
    assert outcome.answer.status == "REFUNDED" and done.calls_sent == {} and "c1" in done.commands


async def test_a_refund_answered_failed_stays_recorded_as_sent() -> None:
    command, sent = refund("c1", 400), []

    async def mark_sent(record: SentCall) -> None:
        sent.append(record)

    outcome = await run_command(command, approved(), FlexWithOrders(down=("refund",)), mark_sent)
    marked = approved().model_copy(update={"calls_sent": {"c1": sent[0]}})
    kept = record_command(marked, outcome.answer, outcome.record, outcome.changes)
    assert outcome.answer.status == "FAILED" and outcome.record is None and set(kept.calls_sent) == {"c1"}


async def test_a_refund_made_whose_answer_was_lost_is_refunded_when_run_again_not_rejected() -> None:
    """The order counts the refund already (its webhook, Flex's figures); the command's re-run sends
    the identical call, which Flex answers as a repeat: REFUNDED, nothing refunded twice."""
    command, flex = refund("c1", 1000), FlexWithOrders()
    await flex.refund("s1", 1000, "commandId c1")  # the first run's call: made, answer lost
    counted = refunded_elsewhere(approved(), 1000)

    unmarked = await run_command(command, counted, FlexWithOrders())
    assert unmarked.answer.status == "REJECTED" and "nothing left to refund" in (unmarked.answer.reason or "")

    outcome = await run_command(command, sent_before(counted, command, 1000), flex)
    detail = outcome.answer.detail
    assert outcome.answer.status == "REFUNDED" and flex.refunded == 1000 and len(flex.refunds) == 1
    assert flex.messages == ["commandId c1", "commandId c1"]  # the identical call, once more
    assert (detail["transactionId"], detail["refundedAmount"], detail["fullyRefunded"]) == ("t1", 1000, True)
    assert detail["resent"] is True and outcome.changes["refunded_amount"] == 1000


async def test_a_refund_sent_but_not_made_is_made_when_run_again() -> None:
    command, flex = refund("c1", 400), FlexWithOrders()
    outcome = await run_command(command, sent_before(approved(), command, 400), flex)
    assert outcome.answer.status == "REFUNDED" and flex.refunded == 400
    assert (outcome.answer.detail["refundedAmount"], outcome.answer.detail["refundableAmount"]) == (400, 600)


async def test_a_refund_sent_whose_order_was_refunded_since_is_rejected_by_flex_not_refunded_twice() -> None:
    """The refund was made, then another one (the merchant's portal): Flex no longer takes the call
    for a repeat, and refuses it, as the order has nothing left."""
    command, flex = refund("c1", 400), FlexWithOrders()
    await flex.refund("s1", 400, "commandId c1")
    await flex.refund("s1", 600, "the portal's")
    outcome = await run_command(
        command, sent_before(refunded_elsewhere(approved(), 1000), command, 400), flex
    )
    assert outcome.answer.status == "REJECTED" and "greater than maximum refund" in (
        outcome.answer.reason or ""
    )
    assert outcome.answer.detail["resent"] is True and flex.refunded == 1000
    assert outcome.record is not None  # finished: a later redelivery repeats this answer


async def test_a_refund_sent_again_whose_order_flex_cannot_show_counts_it_as_a_first_call() -> None:
    command, flex = refund("c1", 250), FlexWithOrders(down=("lookup",))
    outcome = await run_command(command, sent_before(approved(), command, 250), flex)
    assert outcome.answer.status == "REFUNDED" and outcome.answer.detail["refundedAmount"] == 250


async def test_a_refund_sent_again_with_no_amounts_known_or_readable_reports_none() -> None:
    command, flex = refund("c1", 250), FlexWithOrders(down=("lookup",))
    unknown = OrderState(order_id="O1")
    outcome = await run_command(command, sent_before(unknown, command, 250), flex)
    detail: dict[str, Any] = outcome.answer.detail
    assert outcome.answer.status == "REFUNDED" and flex.refunded == 250
    assert "refundedAmount" not in detail and "fullyRefunded" not in detail and outcome.changes == {}


async def test_another_command_under_the_id_of_a_refund_sent_is_refused_and_sends_nothing() -> None:
    flex = FlexWithOrders()
    state = sent_before(approved(), refund("c1", 400), 400)
    outcome = await run_command(refund("c1", 500), state, flex)
    assert outcome.answer.status == "REJECTED" and "commandId-reused" in (outcome.answer.reason or "")
    assert "(a refund of 4.00, sent to Flex and not finished)" in (outcome.answer.reason or "")
    assert flex.messages == [] and outcome.record is None


async def test_a_refund_sent_whose_order_was_charged_back_since_is_not_sent_again() -> None:
    command, flex = refund("c1", 400), FlexWithOrders()
    disputed = approved().model_copy(update={"status": "CHARGEBACK"})
    outcome = await run_command(command, sent_before(disputed, command, 400), flex)
    assert outcome.answer.status == "REJECTED" and "order is CHARGEBACK" in (outcome.answer.reason or "")
    assert flex.messages == [] and outcome.record is not None


def capture_required() -> OrderState:
    return approved().model_copy(update={"status": "CAPTUREREQUIRED"})


def capture(command_id: str) -> OrderCommand:
    return OrderCommand.model_validate({"commandId": command_id, "type": "capture", "orderId": "O1"})


async def test_a_capture_is_recorded_as_sent_before_its_call() -> None:
    flex, marks = FlexWithOrders(), []

    async def mark_sent(sent: SentCall) -> None:
        marks.append((sent, len(flex.captures)))

    outcome = await run_command(capture("k1"), capture_required(), flex, mark_sent)
    [(sent, calls_before)] = marks
    assert calls_before == 0 and (sent.amount, sent.currency, sent.order_session_key) == (1000, "USD", "s1")
    assert outcome.answer.status == "APPROVED" and flex.captures == [(command_key("k1"), 1000, "USD")]
    assert "resent" not in outcome.answer.detail


async def test_a_capture_made_whose_order_moved_on_is_captured_again_by_its_key_when_run_again() -> None:
    """The capture's answer was lost and Flex's order.completed moved the order to APPROVED: checked
    afresh, the command would be refused; sent again under its key, Flex answers it again."""
    command, flex = capture("k1"), FlexWithOrders()
    moved_on = approved()  # the order as the webhook left it

    unmarked = await run_command(command, moved_on, flex)
    assert unmarked.answer.status == "REJECTED" and "only a CAPTUREREQUIRED order" in (
        unmarked.answer.reason or ""
    )

    outcome = await run_command(command, sent_before(moved_on, command, 1000, "USD"), flex)
    assert outcome.answer.status == "APPROVED" and outcome.answer.detail["resent"] is True
    assert flex.captures == [(command_key("k1"), 1000, "USD")]  # the same call, under the same key
    assert outcome.changes["captured_amount"] == 1000 and outcome.record is not None


async def test_a_capture_sent_again_that_flex_cannot_take_stays_recorded_as_sent() -> None:
    command = capture("k1")
    state = sent_before(approved(), command, 1000, "USD")
    outcome = await run_command(command, state, FlexWithOrders(down=("capture",)))
    kept = record_command(state, outcome.answer, outcome.record, outcome.changes)
    assert (
        outcome.answer.status == "FAILED"
        and outcome.dead_letter is not None
        and set(kept.calls_sent) == {"k1"}
    )


async def test_another_command_under_the_id_of_a_capture_sent_is_refused_and_sends_nothing() -> None:
    flex = FlexWithOrders()
    state = sent_before(approved(), capture("k1"), 1000, "USD")
    outcome = await run_command(refund("k1", 100), state, flex)
    assert "(a capture of 10.00, sent to Flex and not finished)" in (outcome.answer.reason or "")
    assert outcome.answer.status == "REJECTED" and flex.captures == [] and flex.messages == []


async def test_a_refund_while_another_refund_of_the_order_is_in_doubt_is_refused_and_sends_nothing() -> None:
    """Sent after it, it would be Flex's last refund, and the one in doubt, sent again, would no
    longer be taken for a repeat: made twice if it was made. A capture in doubt does not stop it."""
    flex = FlexWithOrders()
    in_doubt = sent_before(approved(), refund("c0", 400), 400)
    outcome = await run_command(refund("c1", 100), in_doubt, flex)
    assert outcome.answer.status == "REJECTED" and flex.messages == []
    assert (outcome.answer.reason or "").startswith("refund-in-doubt: ") and "commandId c0, 4.00" in (
        outcome.answer.reason or ""
    )
    captured = sent_before(approved(), capture("k0"), 1000, "USD")
    assert (await run_command(refund("c1", 100), captured, flex)).answer.status == "REFUNDED"


async def test_a_refund_sent_and_finished_by_a_release_that_kept_its_record_does_not_hold_others() -> None:
    """A release before calls_sent finishes a command and writes the order back with the record of
    its call (an unknown field, kept): the refund is not in doubt, the next one goes on."""
    flex, first = FlexWithOrders(), refund("c0", 400)
    done = await run_command(first, approved(), flex)
    finished_old_way = sent_before(approved(), first, 400).model_copy(
        update={"commands": {"c0": done.record}, "refunded_amount": 400}
    )
    outcome = await run_command(refund("c1", 100), finished_old_way, flex)
    assert outcome.answer.status == "REFUNDED" and flex.refunded == 500
