from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from consumers.flows import Defaults, evaluate_body, transmit_body
from core.errors import InvalidEvent
from schemas.events import validate_payment_event


def event(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "eventId": "evt-1",
        "occurredAt": "2026-11-24T10:00:00Z",
        "orderId": "ORD-1",
        "transaction": {"id": "t1", "amount": 1999, "currency": "USD"},
        "payer": {"email": "a@b.c"},
        "paymentMethod": {"cardNumber": "d3e10716-6aac-4eb8-a74d-c1a3027f1d96"},
        "orderItems": [{"sku": "S1"}],
        "deviceDetails": {"ua": "x"},
    }
    base.update(over)
    return base


def test_unknown_fields_pass_through_and_envelope_is_dropped() -> None:
    ev = validate_payment_event(event())
    body = transmit_body(ev, Defaults(mid="M1", site_id="S1"))
    assert body["deviceDetails"] == {"ua": "x"}
    assert body["orderItems"] == [{"sku": "S1"}]
    assert "eventId" not in body and "occurredAt" not in body
    assert body["mid"] == "M1" and body["siteId"] == "S1"
    assert body["isDeclined"] is False and body["isMIT"] is False


def test_casing_variants_are_accepted() -> None:
    ev = validate_payment_event(event(**{"OrderId": "ORD-9", "IsMit": True}) | {"orderId": "ORD-1"})
    assert ev.order_id == "ORD-1"  # the exact spelling wins over a case variant
    ev2 = validate_payment_event({k[0].upper() + k[1:]: v for k, v in event().items()})
    assert ev2.event_id == "evt-1" and ev2.order_id == "ORD-1"
    body = evaluate_body(ev2, Defaults(mid="M1"))
    assert "Mid" not in body and body["mid"] == "M1"


def test_publisher_mid_is_not_overridden() -> None:
    body = evaluate_body(validate_payment_event(event(mid="OWN")), Defaults(mid="M1"))
    assert body["mid"] == "OWN"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"eventId": ""}, "eventId"),
        ({"occurredAt": "2026-11-24T10:00:00"}, "occurredAt"),  # no offset
        ({"occurredAt": "yesterday"}, "occurredAt"),
        ({"transaction": "1999"}, "transaction"),
        ({"payer": None}, "payer"),
        ({"isMIT": "perhaps"}, "isMIT"),
    ],
)
def test_schema_violations_name_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidEvent) as err:
        validate_payment_event(event(**change))
    assert field in str(err.value)
    assert err.value.reason == "schema" and not err.value.retriable


def test_missing_required_field() -> None:
    data = event()
    del data["paymentMethod"]
    with pytest.raises(InvalidEvent, match="paymentMethod"):
        validate_payment_event(data)


def test_evaluate_body_is_deterministic_for_redelivery() -> None:
    ev = validate_payment_event(event(isMIT=True, isRecurring=True))
    first = evaluate_body(ev, Defaults(mit_expiry_days=14))
    second = evaluate_body(
        validate_payment_event(event(isMIT=True, isRecurring=True)), Defaults(mit_expiry_days=14)
    )
    assert first == second
    assert first["isDeclined"] is True
    assert first["expiryDateUtc"] == "2026-12-08T10:00:00Z"  # occurredAt + 14 days, not now + 14 days
    assert datetime.fromisoformat(first["expiryDateUtc"]) > datetime(2026, 11, 24, tzinfo=UTC)


def test_explicit_expiry_is_kept() -> None:
    ev = validate_payment_event(event(isMIT=True, expiryDateUtc="2026-12-01T00:00:00Z"))
    assert evaluate_body(ev, Defaults())["expiryDateUtc"] == "2026-12-01T00:00:00Z"
