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
