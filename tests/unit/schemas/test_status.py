"""Unit tests of the OrderStatus factory (schemas/status.py ``status_of``)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from pydantic import ValidationError

from schemas.codec import encode_model
from schemas.status import status_of

AT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def test_defaults_are_no_session_no_reason_an_empty_detail_and_now() -> None:
    before = datetime.now(UTC)
    status = status_of("ORD-1", "PENDING", "batch", "evt-1")
    assert (status.order_session_key, status.reason, status.detail) == (None, None, {})
    assert before <= status.occurred_at <= datetime.now(UTC)


def test_every_field_lands_under_its_wire_name() -> None:
    status = status_of(
        "ORD-1",
        "REJECTED",
        "command",
        "cmd-1",
        session_key="s-1",
        reason="no",
        detail={"a": 1},
        occurred_at=AT,
    )
    assert orjson.loads(encode_model(status)) == {
        "orderId": "ORD-1",
        "orderSessionKey": "s-1",
        "status": "REJECTED",
        "source": "command",
        "eventId": "cmd-1",
        "occurredAt": "2026-11-24T10:00:00Z",
        "reason": "no",
        "detail": {"a": 1},
    }


def test_a_value_outside_the_contract_is_refused() -> None:
    with pytest.raises(ValidationError):
        status_of("ORD-1", "LOST", "batch", "evt-1")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        status_of("ORD-1", "PENDING", "batch", "evt-1", occurred_at=datetime(2026, 1, 1))  # naive  # noqa: DTZ001


def test_without_validation_the_same_values_give_the_same_status() -> None:
    checked, trusted = (
        status_of("ORD-1", "APPROVED", "webhook", "ev:1", session_key="s", occurred_at=AT, validate=v)
        for v in (True, False)
    )
    assert trusted == checked and encode_model(trusted) == encode_model(checked)


KEY = "e97b1ff1-2345-4678-9012-3456789abcde"  # a GUID core.pan alone masks: "1-2345-4678-9012-3456789"


@pytest.mark.parametrize(
    "reason",
    [
        "orderSessionKey-mismatch: the command's orderSessionKey is not the one of order ORD-1001 (the "
        "answer's orderSessionKey); the refund was not sent to Flex",
        "refund of 12.50 is above the remaining refundable amount 10.00 "
        "(settled 20.00, refunded so far 10.00)",
        "commandId-reused: commandId cmd-7f3a was used for another command on this order (refund of 12.50, "
        "answered REFUNDED); give a new command a new commandId",
        f"Flex answered this refund as a repeat of command cmd-1 (transactionId {KEY}): "
        "no new refund was made",
        f"POST /v1/orders/{KEY}/refund: 400 Bad Request: Amount exceeds refundable amount",
        "ambiguous-order: orderId 1001 exists for merchants acme, bolt; give mid",
        "unknown-order: merchant mid 5f1c6a8e-3b2d-4c7a-9e10-2d4b6f8a0c31 has no order ORD-1001 (none seen)",
        "transaction.responseCode: The ResponseCode field is required. (2026-11-24 10:00:01)",
    ],
)
@pytest.mark.parametrize("validate", [True, False])
def test_ordinary_reasons_are_kept_as_they_are(reason: str, validate: bool) -> None:
    assert status_of("ORD-1", "REJECTED", "command", "c1", reason=reason, validate=validate).reason == reason


@pytest.mark.parametrize("validate", [True, False])
def test_a_card_number_in_a_reason_is_masked_and_the_fields_are_kept(validate: bool) -> None:
    order_id, mid = "1002003004005005", "930000000000005"  # numeric ids that pass Luhn
    reason = f"unknown-order: merchant mid {mid} has no order {order_id}; card 4111 1111 1111 1111 by {KEY}"
    status = status_of(
        order_id, "REJECTED", "command", order_id, reason=reason, detail={"mid": mid}, validate=validate
    )
    assert status.reason == (
        "unknown-order: merchant mid ***********0005 has no order ************5005; "
        f"card ************1111 by {KEY}"
    )
    assert (status.order_id, status.event_id, status.detail) == (order_id, order_id, {"mid": mid})
