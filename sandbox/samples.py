"""Sample Flex request bodies (the shapes of flex-api.md) for tests, the demo and benchmarks."""

from __future__ import annotations

import uuid
from typing import Any

from .config import DEV_MID

__all__ = ["evaluate_body", "tokenize_body", "transmit_body"]


def tokenize_body(number: str = "4111111111111111", cvv: str = "999") -> dict[str, Any]:
    return {
        "payment_method": {
            "credit_card": {
                "first_name": "Cure",
                "last_name": "Tester",
                "number": number,
                "verification_value": cvv,
                "month": "09",
                "year": "2030",
            }
        }
    }


def _given(**fields: Any) -> dict[str, Any]:
    """The fields whose value is not None (``None`` leaves an optional field out)."""
    return {name: value for name, value in fields.items() if value is not None}


def _payment_method(last4: str | None, token: str | None, cvv: str | None) -> dict[str, Any]:
    return {
        "holderName": "Cure Tester",
        "cardType": "CREDIT",
        "cardBrand": "VISA",
        "cardCountry": "US",
        "expirationMonth": 9,
        "expirationYear": 2030,
        "cardBinNumber": "411111",
        **_given(cardLast4Digits=last4, cardNumber=token, verificationValue=cvv),
    }


_BILLING = {
    "firstName": "Cure",
    "lastName": "Tester",
    "country": "US",
    "countryCode": "US",
    "addressLine1": "1 Main St",
    "city": "Springfield",
    "state": "IL",
    "zipcode": "62701",
}


def _transaction(amount: int, currency: str) -> dict[str, Any]:
    return {
        "id": f"psp-{uuid.uuid4().hex[:10]}",
        "timestampUtc": "2026-11-24T10:00:00Z",
        "timezoneUtcOffset": 0,
        "amount": amount,
        "currency": currency,
        "responseCode": "05",
        "responseCodeSource": "NMI",
        "avsResultCode": "M",
        "cvvResultCode": "NA",
        "cavvResultCode": "NA",
        "cardNotPresent": True,
    }


def evaluate_body(
    *,
    order_id: str | None = None,
    idempotency_key: str | None = None,
    amount: int = 1999,
    currency: str = "USD",
    is_mit: bool = False,
    expiry_date_utc: str | None = None,
    phone: str | None = "+1 555-123-4567",
    cvv: str | None = "999",
    card_last4: str | None = "1111",
    card_token: str | None = None,
    transaction_type: str | None = None,
    mid: str = DEV_MID,
) -> dict[str, Any]:
    """A complete /evaluate body (camelCase); ``None`` leaves an optional field out."""
    return {
        "isDeclined": True,
        "idempotencyKey": idempotency_key or str(uuid.uuid4()),
        "orderId": order_id or f"ORD-{uuid.uuid4().hex[:12]}",
        "mid": mid,
        "siteId": "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d",
        "customerIp": "203.0.113.9",
        "isMIT": is_mit,
        "transaction": _transaction(amount, currency),
        "payer": {"id": "customer-1", "email": "cure@example.com", **_given(phone=phone)},
        "billingInformation": dict(_BILLING),
        "paymentMethod": _payment_method(card_last4, card_token, cvv),
        **_given(
            isRecurring=True if is_mit else None,
            expiryDateUtc=expiry_date_utc,
            transactionType=transaction_type,
        ),
    }


def transmit_body(order_id: str | None = None, *, is_mit: bool = False) -> dict[str, Any]:
    """A /transmit body for an approved transaction."""
    body = evaluate_body(order_id=order_id, is_mit=is_mit)
    del body["idempotencyKey"]
    body["isDeclined"] = False
    body["transaction"]["responseCode"] = "00"
    return body
