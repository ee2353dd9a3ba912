"""Unit tests: the order state machine and the command decisions (pure, no I/O)."""

from __future__ import annotations

from typing import Any

import pytest

from consumers.command_plan import plan_command, refused_as_it_stands, with_flex_amounts
from consumers.commands import run_command
from consumers.flex.errors import FlexRejected, FlexUnavailable
from consumers.keys import command_key
from consumers.order_machine import apply_status, is_legal, record_command
from schemas.commands import OrderCommand
from schemas.flex import CancelResponse, CaptureResponse, RefundResponse
from schemas.order_state import CommandRecord, FlexOrderAmounts, OrderState, SentCall
from schemas.status import OrderStatus


def status(value: str, source: str = "evaluate", event: str = "e1", **over: Any) -> OrderStatus:
    fields: dict[str, Any] = {"orderId": "O1", "status": value, "source": source, "eventId": event, **over}
    return OrderStatus.model_validate(fields)


def state(value: str | None, **over: Any) -> OrderState:
    fields: dict[str, Any] = {"order_id": "O1", "order_session_key": "s1", "status": value, "currency": "USD"}
    return OrderState(**{**fields, **over})


def cmd(kind: str, **over: Any) -> OrderCommand:
    return OrderCommand.model_validate({"commandId": "c1", "type": kind, "orderId": "O1", **over})


@pytest.mark.parametrize(
    ("current", "new", "legal"),
    [
        (None, "APPROVED", True),
        ("SUBMITTED", "APPROVED", True),
        ("SUBMITTED", "EXPIRED", True),
        ("CAPTUREREQUIRED", "APPROVED", True),
        ("APPROVED", "REFUNDED", True),
        ("APPROVED", "EXPIRED", False),
        ("APPROVED", "CANCELLED", False),
        ("EXPIRED", "APPROVED", False),
        ("CANCELLED", "APPROVED", False),
        ("REFUNDED", "APPROVED", False),
        ("APPROVED", "APPROVED", True),
    ],
)
def test_transitions(current: Any, new: Any, legal: bool) -> None:
    assert is_legal(current, new) is legal


def test_an_out_of_order_status_is_recorded_and_flagged_not_applied() -> None:
    s, verdict = apply_status(None, status("APPROVED", session="k"))
    s, verdict = apply_status(s, status("EXPIRED", source="webhook", event="w1"))
    assert verdict == "illegal" and s.status == "APPROVED" and s.flagged
    assert s.history[-1].verdict == "illegal" and "APPROVED → EXPIRED" in s.flags[0]


def test_a_duplicate_is_ignored_and_a_confirmation_recorded() -> None:
    s, _ = apply_status(None, status("APPROVED", detail={"amount": 1999, "currency": "usd"}))
    assert (s.authorised_amount, s.currency) == (1999, "USD")
    same, verdict = apply_status(s, status("APPROVED"))
    assert verdict == "duplicate" and same == s
    s, verdict = apply_status(s, status("APPROVED", source="webhook", event="w1"))
    assert verdict == "confirmed" and len(s.history) == 2


def test_a_command_rejection_leaves_the_status_alone() -> None:
    s, verdict = apply_status(state("APPROVED"), status("REJECTED", source="command", event="c9"))
    assert verdict == "answer" and s.status == "APPROVED" and not s.flagged


def test_a_new_evaluate_after_a_closed_attempt_starts_over() -> None:
    s = state("DECLINED", authorised_amount=100)
    s, verdict = apply_status(s, status("APPROVED", event="e2", orderSessionKey="s2"))
    assert verdict == "applied" and s.order_session_key == "s2" and s.authorised_amount is None


def test_the_command_handlers_own_answer_coming_back_is_not_applied_twice() -> None:
    answer = status("REFUNDED", source="command", event="c1")
    s = record_command(state("APPROVED", authorised_amount=1000), answer, None, {"refunded_amount": 400})
    assert s.refunded_amount == 400 and not s.history


@pytest.mark.parametrize(
    ("command", "current", "action", "says"),
    [
        (
            cmd("refund", amount=500),
            state("APPROVED", authorised_amount=1000, refunded_amount=600),
            "reject",
            "4.00",
        ),
        (
            cmd("refund", amount=400),
            state("APPROVED", authorised_amount=1000, refunded_amount=600),
            "refund",
            None,
        ),
        (
            cmd("refund"),
            state("APPROVED", authorised_amount=1000, refunded_amount=1000),
            "reject",
            "nothing left",
        ),
        (cmd("refund", amount=10), state("CAPTUREREQUIRED", authorised_amount=1000), "reject", "settled"),
        (cmd("refund", amount=10), state("SUBMITTED", authorised_amount=1000), "reject", "settled"),
        (cmd("refund", amount=10), None, "reject", "unknown-order: flexbridge knows no order O1"),
        (cmd("capture", mid="m-c"), None, "reject", "unknown-order: merchant mid m-c has no order O1"),
        (cmd("refund", amount=10), state("CHARGEBACK", authorised_amount=1000), "reject", "pay them twice"),
        (cmd("refund"), state("CHARGEBACK", authorised_amount=9, captured_amount=9), "reject", "disputed"),
        (cmd("cancel"), state("CHARGEBACK"), "reject", "CHARGEBACK (completed, disputed)"),
        (cmd("cancel"), state("APPROVED"), "reject", "ask for a refund"),
        (cmd("cancel"), state("REFUNDED"), "reject", "ask for a refund"),
        (cmd("cancel"), state("DECLINED"), "reject", "nothing to cancel"),
        (cmd("cancel"), state("SUBMITTED"), "cancel", None),
        (cmd("cancel"), state("CAPTUREREQUIRED"), "cancel", None),
        (cmd("cancel"), state("CANCELLED"), "already-cancelled", None),
        (cmd("cancel"), None, "external-cancel", None),
        (
            cmd("capture", amount=999),
            state("CAPTUREREQUIRED", authorised_amount=1000),
            "reject",
            "must equal",
        ),
        (cmd("capture"), state("CAPTUREREQUIRED", authorised_amount=1000), "capture", None),
        (
            cmd("capture", amount=1000, currency="EUR"),
            state("CAPTUREREQUIRED", authorised_amount=1000),
            "reject",
            "EUR",
        ),
        (
            cmd("capture", amount=1000),
            state("APPROVED", authorised_amount=1000),
            "reject",
            "only a CAPTUREREQUIRED",
        ),
    ],
)
def test_command_decisions(
    command: OrderCommand, current: OrderState | None, action: str, says: str | None
) -> None:
    plan = plan_command(command, current)
    assert plan.action == action
    if says is not None:
        assert plan.reason is not None and says in plan.reason


def test_a_chargeback_order_shows_nothing_refundable() -> None:
    assert state("CHARGEBACK", authorised_amount=1000).view()["refundableAmount"] == 0
    assert state("APPROVED", authorised_amount=1000).view()["refundableAmount"] == 1000


def test_flex_amounts_fill_in_but_never_lower_the_refunds() -> None:
    flex = FlexOrderAmounts.model_validate(
        {"id": "s1", "statusName": "APPROVED", "amount": 1000, "capturedAmount": 1000, "refundedAmount": 0}
    )
    s = with_flex_amounts(state(None, refunded_amount=300), "O1", flex)
    assert (s.status, s.authorised_amount, s.refunded_amount, s.refundable_amount) == (
        "APPROVED",
        1000,
        300,
        700,
    )


class FakeFlex:
    """Records calls; answers as configured (unit tests only)."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.fail = fail

    async def refund(self, key: str, cents: int, message: str | None = None) -> RefundResponse:
        self.calls.append(("refund", key, cents))
        if self.fail:
            raise self.fail
        return RefundResponse.model_validate({"status": "SUCCESS", "transactionId": "t1"})

    async def cancel(self, key: str, idem: str) -> CancelResponse:
        self.calls.append(("cancel", key, idem))
        return CancelResponse.model_validate({})

    async def external_cancel(self, order_id: str, idem: str) -> CancelResponse:
        self.calls.append(("external-cancel", order_id, idem))
        return CancelResponse.model_validate({})

    async def capture(self, key: str, cents: int, currency: str, idem: str) -> CaptureResponse:
        self.calls.append(("capture", key, cents, currency, idem))
        return CaptureResponse.model_validate({"status": "SUCCESS"})

    async def order_amounts(self, key: str) -> FlexOrderAmounts:
        self.calls.append(("order", key))
        order = {"id": key, "externalOrderId": "O1", "statusName": "CAPTUREREQUIRED", "amount": 1000}
        return FlexOrderAmounts.model_validate(order)


async def test_a_refund_updates_the_state_the_next_refund_checks() -> None:
    flex, s = FakeFlex(), state("APPROVED", authorised_amount=1000)
    first = await run_command(cmd("refund", amount=600), s, flex)
    s = record_command(s, first.answer, first.record, first.changes)
    second = await run_command(cmd("refund", commandId="c2", amount=600), s, flex)
    assert first.answer.status == "REFUNDED" and second.answer.status == "REJECTED"
    assert (
        second.answer.reason is not None
        and "above the remaining refundable amount 4.00" in second.answer.reason
    )
    # refused on amounts: Flex's order is read before, so its figures refuse it, not the event's
    assert flex.calls == [("refund", "s1", 600), ("order", "s1")]
    replay = await run_command(cmd("refund", amount=600), s, flex)
    assert replay.replayed and replay.answer == first.answer and len(flex.calls) == 2


async def test_a_capture_refused_on_the_events_amount_is_checked_against_flexs_order_first() -> None:
    """The order's statuses told 900 (the event's amount); Flex's order says 1000: a capture of 1000
    is Flex's to take, and the order state takes Flex's figure."""
    flex, s = FakeFlex(), state("CAPTUREREQUIRED", authorised_amount=900, currency="USD")
    outcome = await run_command(cmd("capture", amount=1000, currency="USD"), s, flex)
    assert outcome.answer.status == "APPROVED" and outcome.changes["authorised_amount"] == 1000
    assert flex.calls == [("order", "s1"), ("capture", "s1", 1000, "USD", command_key("c1"))]
    wrong = await run_command(cmd("capture", commandId="c2", amount=1200, currency="USD"), s, flex)
    assert wrong.answer.status == "REJECTED" and "must equal the authorised amount 10.00" in (
        wrong.answer.reason or ""
    )
    assert flex.calls[-1] == ("order", "s1")  # read, and refused by Flex's figure: no capture call


async def test_capture_reads_unknown_amounts_from_flex_and_carries_the_command_key() -> None:
    flex = FakeFlex()
    outcome = await run_command(cmd("capture", orderSessionKey="s9", currency="USD"), None, flex)
    assert outcome.answer.status == "APPROVED" and outcome.changes["captured_amount"] == 1000
    assert flex.calls == [("order", "s9"), ("capture", "s9", 1000, "USD", command_key("c1"))]


async def test_flex_refusal_is_rejected_and_unreachable_flex_is_failed_and_dead_lettered() -> None:
    refused = FlexRejected("refund: FAILED: too much", status_code=400)
    s = state("APPROVED", authorised_amount=1000)
    out = await run_command(cmd("refund", amount=100), s, FakeFlex(refused))
    assert out.answer.status == "REJECTED" and out.record is not None and out.dead_letter is None
    out = await run_command(
        cmd("refund", amount=100),
        s,
        FakeFlex(
            FlexUnavailable(
                endpoint="POST /v1/orders/{id}/refund", last_failure="503", attempts=3, elapsed_seconds=30
            )
        ),
    )
    assert out.answer.status == "FAILED" and out.record is None
    assert out.dead_letter is not None and out.dead_letter[0] == "retries-exhausted"


def test_only_a_command_the_order_as_it_stands_would_refuse_waits_for_the_folds() -> None:
    """``refused_as_it_stands``: the commands that wait for the statuses read before them."""
    settled = {"authorised_amount": 1000}
    assert refused_as_it_stands(cmd("refund", amount=100), state("SUBMITTED", **settled))  # APPROVED unread?
    assert refused_as_it_stands(cmd("refund", amount=100), None)  # no entry, no orderSessionKey
    assert not refused_as_it_stands(cmd("refund", amount=100), state("APPROVED", **settled))
    assert not refused_as_it_stands(cmd("refund", amount=100, orderSessionKey="s1"), None)  # Flex is read
    recorded = record_command(
        state("SUBMITTED", **settled),
        status("REJECTED", "command", "c1"),
        CommandRecord(type="refund", status="REJECTED", answer={}),
        {},
    )
    assert not refused_as_it_stands(cmd("refund", amount=100), recorded)  # a replay: answered as before
    sent = SentCall(amount=100, order_session_key="s1", request={})
    assert not refused_as_it_stands(
        cmd("refund", amount=100), state("SUBMITTED", calls_sent={"c1": sent}, **settled)
    )
