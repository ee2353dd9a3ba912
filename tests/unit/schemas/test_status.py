"""Unit tests of the OrderStatus factory (schemas/status.py ``status_of``)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from pydantic import ValidationError

from schemas.codec import encode_model
from schemas.status import OrderStatus, status_of

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


def test_an_unvalidated_status_is_the_object_model_construct_builds() -> None:
    detail = {"webhookEvent": "order.completed", "mid": "m-1"}
    key = "order.completed:osk"
    fast = status_of("ORD-1", "APPROVED", "webhook", key, session_key="osk", detail=detail, validate=False)
    fields = {**fast.__dict__}
    built = OrderStatus.model_construct(**fields)
    assert fast == built and fast.model_fields_set == built.model_fields_set
    assert fast.__pydantic_extra__ == built.__pydantic_extra__
    assert fast.__pydantic_private__ == built.__pydantic_private__
    assert encode_model(fast) == encode_model(built)
    assert fast.model_copy(update={"reason": "r"}).reason == "r"
    with pytest.raises(ValidationError):  # frozen like any OrderStatus
        fast.status = "EXPIRED"  # type: ignore[misc]
